/**
 * ACME authorizations and their challenges (RFC 8555 7.1.4, 7.5): reading one, deactivating it
 * (7.5.2), and answering a challenge, which runs the challenge type's validator and moves the
 * authorization to valid or invalid. Each change settles the order it belongs to: ready when all
 * its authorizations are valid, invalid as soon as one is not.
 */
import type { Clock } from '../core/clock.js';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import type { ChallengeValidator } from './challenge-validators.js';
import type { RateLimits } from './rate-limits.js';
import { payloadObject } from './request-payload.js';

export interface AuthorizationsDeps {
  store: Store;
  clock: Clock;
  /** One validator per challenge type, as newOrder offered them. */
  validators: ReadonlyMap<string, ChallengeValidator>;
  rateLimits: RateLimits;
}

/** A challenge response: the client's payload, its account key's thumbprint and its address (for rate limits). */
export interface ChallengeResponse {
  payload: unknown;
  thumbprint: string;
  ip: string;
}

/** A challenge and the authorization it belongs to, as they stand after the request. */
export interface ChallengeState {
  authorization: AcmeAuthorizationRecord;
  challenge: AcmeChallengeRecord;
}

/** RFC 8555 7.1.6: a pending or valid authorization past its expiry is expired, whether or not anyone wrote that down yet. */
export function effectiveStatus(authz: AcmeAuthorizationRecord, now: Date): AcmeAuthorizationRecord['status'] {
  return (authz.status === 'pending' || authz.status === 'valid') && authz.expiresAt <= now ? 'expired' : authz.status;
}

/** An order is ready when all its authorizations are valid, and invalid as soon as one is not. */
export async function settleOrder(store: Store, changed: AcmeAuthorizationRecord): Promise<void> {
  const order = await store.acme.findAcmeOrderByAuthorization(changed.id);
  if (!order || (order.status !== 'pending' && order.status !== 'ready')) return;
  const authorizations = await Promise.all(order.authorizationIds.map((id) => store.acme.getAcmeAuthorization(id)));
  const failed = authorizations.find((a) => a && a.status !== 'pending' && a.status !== 'valid');
  if (failed) {
    await store.acme.updateAcmeOrder(order.id, order.status, {
      status: 'invalid',
      error: new AcmeError('unauthorized', `the authorization for ${failed.identifier.value} is ${failed.status}`).toProblem(),
    });
  } else if (authorizations.every((a) => a?.status === 'valid')) {
    await store.acme.updateAcmeOrder(order.id, 'pending', { status: 'ready' });
  }
}

export class Authorizations {
  constructor(private readonly deps: AuthorizationsDeps) {}

  /**
   * An account's authorization: read it (POST-as-GET, no payload) or deactivate it
   * (`{"status": "deactivated"}`). Returns it with its effective status (expired when past its time).
   */
  async readOrDeactivate(account: AcmeAccountRecord, id: string, payload: unknown): Promise<AcmeAuthorizationRecord> {
    const { store, clock } = this.deps;
    const authz = await store.acme.getAcmeAuthorization(id);
    if (!authz) throw new AcmeError('malformed', `no authorization ${id}`, { status: 404 });
    if (authz.accountId !== account.id) throw new AcmeError('unauthorized', 'the authorization belongs to another account');
    if (payload !== undefined) {
      const { status } = (payload ?? {}) as { status?: unknown };
      if (status !== 'deactivated') throw new AcmeError('malformed', 'the only change a client may make to an authorization is {"status": "deactivated"}');
      const current = effectiveStatus(authz, clock.now());
      if (current !== 'pending' && current !== 'valid') throw new AcmeError('malformed', `an authorization that is ${current} cannot be deactivated`);
      const from = authz.status;
      authz.status = 'deactivated';
      if (!(await store.acme.saveAcmeAuthorization(authz, from)))
        throw new AcmeError('malformed', 'the authorization changed while this request was handled; read it again');
      await settleOrder(store, authz);
    }
    return { ...authz, status: effectiveStatus(authz, clock.now()) };
  }

  /**
   * RFC 8555 7.5.1: a POST-as-GET reads the challenge; a JSON object (RFC: {}) asks for
   * validation, which happens once, while the authorization and the challenge are both pending.
   */
  async respondToChallenge(account: AcmeAccountRecord, authzId: string, type: string, response: ChallengeResponse): Promise<ChallengeState> {
    const { store, clock } = this.deps;
    const authz = await store.acme.getAcmeAuthorization(authzId);
    const challenge = authz?.challenges.find((c) => c.type === type);
    if (!authz || !challenge) throw new AcmeError('malformed', 'no such challenge', { status: 404 });
    if (authz.accountId !== account.id) throw new AcmeError('unauthorized', 'the challenge belongs to another account');
    if (response.payload !== undefined && authz.status === 'pending' && challenge.status === 'pending') {
      if (authz.expiresAt <= clock.now()) {
        authz.status = 'expired';
      } else {
        const validator = this.deps.validators.get(challenge.type) as ChallengeValidator;
        await this.deps.rateLimits.check(['failedValidationsPerAccount', account.id], ['failedValidationsPerIp', response.ip]);
        try {
          const evidence = await validator.validate({
            identifier: authz.identifier,
            token: challenge.token,
            keyAuthorization: `${challenge.token}.${response.thumbprint}`,
            payload: payloadObject(response.payload),
          });
          if (evidence?.attestedKeySha256) challenge.attestedKeySha256 = evidence.attestedKeySha256;
          challenge.status = 'valid';
          challenge.validated = clock.now().toISOString();
          authz.status = 'valid';
        } catch (error) {
          challenge.status = 'invalid';
          challenge.error = (error instanceof AcmeError ? error : new AcmeError('serverInternal', 'validation failed')).toProblem();
          authz.status = 'invalid';
          await this.deps.rateLimits.record(['failedValidationsPerAccount', account.id], ['failedValidationsPerIp', response.ip]);
        }
      }
      // Only a still-pending authorization takes this outcome: a parallel response (another
      // challenge type, another process) that settled it first stands, and invalid stays invalid.
      if (await store.acme.saveAcmeAuthorization(authz, 'pending')) {
        await settleOrder(store, authz);
      } else {
        const settled = (await store.acme.getAcmeAuthorization(authz.id)) as AcmeAuthorizationRecord;
        return { authorization: settled, challenge: settled.challenges.find((c) => c.type === challenge.type) ?? challenge };
      }
    }
    return { authorization: authz, challenge };
  }
}
