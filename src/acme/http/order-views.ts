/** The JSON of orders, authorizations and challenges (RFC 8555 7.1.3-7.1.5), with this server's URLs. */
import type { AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeOrderRecord } from '../../store/store.js';

export function orderView(base: string, order: AcmeOrderRecord) {
  return {
    status: order.status,
    expires: order.expiresAt.toISOString(),
    identifiers: order.identifiers,
    authorizations: order.authorizationIds.map((id) => `${base}/authz/${id}`),
    finalize: `${base}/order/${order.id}/finalize`,
    ...(order.certificateSerial ? { certificate: `${base}/order/${order.id}/cert` } : {}),
    ...(order.error ? { error: order.error } : {}),
  };
}

export function challengeView(base: string, authz: AcmeAuthorizationRecord, challenge: AcmeChallengeRecord) {
  return {
    type: challenge.type,
    url: `${base}/chall/${authz.id}/${challenge.type}`,
    token: challenge.token,
    status: challenge.status,
    ...(challenge.validated ? { validated: challenge.validated } : {}),
    ...(challenge.error ? { error: challenge.error } : {}),
  };
}

/** The authorization as Authorizations returned it, its status already the effective one. */
export function authzView(base: string, authz: AcmeAuthorizationRecord) {
  return {
    identifier: authz.identifier,
    status: authz.status,
    expires: authz.expiresAt.toISOString(),
    challenges: authz.challenges.map((c) => challengeView(base, authz, c)),
  };
}
