/**
 * `hearth ca sign-root-crl`: brings the offline root key back for one signature, re-signs the
 * root's CRL with a higher number and, when asked, an issuing CA added to it. This is how an
 * issuing CA is revoked, and how the root CRL is renewed before its nextUpdate.
 */
import type { Clock } from '../core/clock.js';
import type { HearthConfig } from '../core/config.js';
import { ISSUING_CAS, type DataDirLayout, type IssuingCaName } from '../core/data-dir-layout.js';
import { ConfigError } from '../core/errors.js';
import { keyAlgorithmOf, keyObjectSigner } from '../keys/key-object-signer.js';
import type { Signer } from '../pki/signer.js';
import { REVOCATION_REASONS, type RevocationReasonName } from '../pki/revocation-reason.js';
import { readCertificateFile } from './ca-material.js';
import { keyProviderFor, readSecret } from './installation-config.js';
import { ROOT_KEY, loadRootKey } from './root-key.js';
import { assertRootSigner, loadRootCrl, readRootCrl, signRootCrl, writeRootCrl, type RootCrl } from './root-crl.js';

/** Reasons that make sense for a CA certificate in a complete CRL (no removeFromCRL, no hold). */
/** The reasons an issuing CA may be revoked for on the root CRL. */
export const CA_REVOCATION_REASONS: readonly RevocationReasonName[] = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
];

export interface RootCrlRequest {
  layout: DataDirLayout;
  config: HearthConfig;
  /** The root key file when it is no longer in the data directory (file backend). */
  rootKeyFile?: string;
  revokeCa?: string;
  reason?: string;
  clock: Clock;
}

export async function resignRootCrl(request: RootCrlRequest): Promise<RootCrl> {
  const { layout, config, clock } = request;
  // Everything asked is checked before the root key is opened.
  if (request.reason !== undefined && request.revokeCa === undefined) throw new ConfigError('--reason goes with --revoke-ca');
  const caName = request.revokeCa === undefined ? undefined : issuingCaName(request.revokeCa);
  const reason = request.reason ?? 'unspecified';
  if (!(CA_REVOCATION_REASONS as readonly string[]).includes(reason)) throw new ConfigError(`--reason must be one of ${CA_REVOCATION_REASONS.join(', ')}`);
  const root = await readCertificateFile(layout.caCertificate('root'));
  const revoked = caName === undefined ? undefined : await readCertificateFile(layout.caCertificate(caName));
  if (revoked && Buffer.compare(Buffer.from(revoked.issuerNameDer), Buffer.from(root.subjectNameDer)) !== 0) {
    throw new ConfigError(`${layout.caCertificate(caName as string)} is not a certificate the root signed`);
  }
  const previous = await loadRootCrl(layout, root);

  const signer = await openRootSigner(request);
  try {
    await assertRootSigner(signer, root);
    const der = await signRootCrl({
      root,
      signer,
      clock,
      validityDays: config.crl.rootValidityDays,
      ...(previous ? { previous } : {}),
      ...(revoked ? { revoke: [{ serial: revoked.serialHex, revokedAt: clock.now(), reason: REVOCATION_REASONS[reason as RevocationReasonName] }] } : {}),
    });
    const crl = readRootCrl(der, root); // what is written is what a relying party will read
    await writeRootCrl(layout, der);
    return crl;
  } finally {
    await signer.close?.();
  }
}

function issuingCaName(name: string): IssuingCaName {
  if (!(ISSUING_CAS as readonly string[]).includes(name)) throw new ConfigError(`--revoke-ca must name an issuing CA: ${ISSUING_CAS.join(', ')}`);
  return name as IssuingCaName;
}

async function openRootSigner(request: RootCrlRequest): Promise<Signer> {
  const { layout, config } = request;
  if (config.keys.backend === 'pkcs11') {
    if (request.rootKeyFile !== undefined) throw new ConfigError('this installation keeps its root key in a PKCS#11 token: --root-key does not apply');
    return keyProviderFor(config, layout).open(ROOT_KEY);
  }
  const key = await loadRootKey(layout, readSecret(config.keys.passphrase, layout), request.rootKeyFile);
  return keyObjectSigner(key, keyAlgorithmOf(key, request.rootKeyFile ?? layout.privateKey(ROOT_KEY)));
}
