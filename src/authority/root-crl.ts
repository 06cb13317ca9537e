/**
 * The root CA's CRL: the only way an issuing CA can be revoked. The root's key is offline, so this
 * CRL is signed when the key is at hand (`hearth init`, `hearth ca sign-root-crl`) with a long
 * validity, kept in the data directory (ca/root.crl, DER) and served as it is by `hearth serve`,
 * which never opens the root key. Each new one carries a higher CRL number and every entry of the
 * one before it.
 */
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLReason, CertificateList, id_ce_cRLNumber, id_ce_cRLReasons } from '@peculiar/asn1-x509';
import type { Clock } from '../core/clock.js';
import type { DataDirLayout } from '../core/data-dir-layout.js';
import { ConfigError, HearthError, NotFoundError } from '../core/errors.js';
import { ECDSA_CURVES, isEcdsa } from '../keys/key-algorithm.js';
import type { KeyAlgorithm, Signer } from '../pki/signer.js';
import type { CertificateFacts } from '../pki/certificate-facts.js';
import { assembleCrl, buildTbsCrl, type RevokedSerial } from '../pki/crl.js';
import { SIGNATURE_OIDS } from '../pki/signature-algorithm.js';

const DAY_MS = 86_400_000;

export interface RootCrl {
  der: Uint8Array;
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: RevokedSerial[];
}

/** The root CRL on disk is not one the root signed: served to nobody, and named as the fault it is. */
export class RootCrlInvalidError extends HearthError {
  constructor(detail: string) {
    super('root-crl-invalid', 500, 'The root CRL is not valid', detail);
  }
}

export interface RootCrlSigning {
  root: CertificateFacts;
  /** The root's key; the caller has checked it is the key of `root`. */
  signer: Signer;
  clock: Clock;
  validityDays: number;
  /** The CRL this one replaces: its number is exceeded and its entries are kept. */
  previous?: RootCrl;
  /** Issuing CA certificates to add to the list. */
  revoke?: readonly RevokedSerial[];
}

export async function signRootCrl(input: RootCrlSigning): Promise<Uint8Array> {
  const thisUpdate = input.clock.now();
  const revoked = [...(input.previous?.revoked ?? [])];
  for (const entry of input.revoke ?? []) {
    const serial = normalSerial(entry.serial);
    // Revoking twice keeps the first date and reason: a CRL entry is not rewritten.
    if (!revoked.some((r) => normalSerial(r.serial) === serial)) revoked.push({ ...entry, serial });
  }
  const tbs = buildTbsCrl({
    issuerName: input.root.subjectNameDer,
    issuerKeyIdentifier: input.root.keyIdentifier,
    signatureAlgorithm: input.signer.algorithm,
    thisUpdate,
    nextUpdate: new Date(thisUpdate.getTime() + input.validityDays * DAY_MS),
    crlNumber: (input.previous?.number ?? 0n) + 1n,
    revoked,
  });
  return assembleCrl(tbs, input.signer.algorithm, await input.signer.sign(tbs));
}

/** Reads a root CRL and checks that the root signed it; anything else is refused. */
export function readRootCrl(der: Uint8Array, root: CertificateFacts): RootCrl {
  let crl: CertificateList;
  try {
    crl = AsnConvert.parse(der, CertificateList);
  } catch {
    throw new RootCrlInvalidError('it is not a DER-encoded CRL');
  }
  const tbs = crl.tbsCertList;
  if (Buffer.compare(Buffer.from(AsnConvert.serialize(tbs.issuer)), Buffer.from(root.subjectNameDer)) !== 0) {
    throw new RootCrlInvalidError('its issuer is not the root CA');
  }
  const algorithm = (Object.keys(SIGNATURE_OIDS) as KeyAlgorithm[]).find((a) => SIGNATURE_OIDS[a] === crl.signatureAlgorithm.algorithm);
  if (!algorithm || tbs.signature.algorithm !== crl.signatureAlgorithm.algorithm)
    throw new RootCrlInvalidError(`its signature algorithm ${crl.signatureAlgorithm.algorithm} is not one Hearth signs with`);
  // The signed bytes exactly as they are in the file: the TBS is the CertificateList's first element.
  const signedBytes = tbsBytes(der);
  const key = createPublicKey({ key: Buffer.from(root.spkiDer), format: 'der', type: 'spki' });
  const valid = verify(isEcdsa(algorithm) ? ECDSA_CURVES[algorithm].hash : null, signedBytes, key, Buffer.from(crl.signature));
  if (!valid) throw new RootCrlInvalidError("its signature does not verify with the root CA's key");
  const numberExtension = tbs.crlExtensions?.find((e) => e.extnID === id_ce_cRLNumber);
  if (!numberExtension || !tbs.nextUpdate) throw new RootCrlInvalidError('it has no CRL number or no nextUpdate');
  const number = crlNumberOf(new Uint8Array(numberExtension.extnValue.buffer));
  return {
    der,
    number,
    thisUpdate: tbs.thisUpdate.getTime(),
    nextUpdate: tbs.nextUpdate.getTime(),
    revoked: (tbs.revokedCertificates ?? []).map((entry) => {
      const reason = entry.crlEntryExtensions?.find((e) => e.extnID === id_ce_cRLReasons);
      return {
        serial: normalSerial(Buffer.from(entry.userCertificate).toString('hex')),
        revokedAt: entry.revocationDate.getTime(),
        reason: reason ? AsnConvert.parse(reason.extnValue, CRLReason).reason : 0,
      };
    }),
  };
}

/** The first element of the outer SEQUENCE, with its header: the signed TBSCertList. */
function tbsBytes(der: Uint8Array): Uint8Array {
  const headerLength = (bytes: Uint8Array, at: number) => {
    const first = bytes[at + 1] as number;
    return first < 0x80
      ? { header: 2, length: first }
      : { header: 2 + (first & 0x7f), length: [...bytes.subarray(at + 2, at + 2 + (first & 0x7f))].reduce((n, b) => n * 256 + b, 0) };
  };
  const outer = headerLength(der, 0);
  const inner = headerLength(der, outer.header);
  return der.subarray(outer.header, outer.header + inner.header + inner.length);
}

/** CRLNumber ::= INTEGER (0..MAX), at most 20 octets (RFC 5280 5.2.3). */
function crlNumberOf(der: Uint8Array): bigint {
  const length = der[1] ?? 0;
  if (der[0] !== 0x02 || length === 0 || length > 21 || der.length !== 2 + length) throw new RootCrlInvalidError('its CRL number is not a DER INTEGER');
  return BigInt(`0x${Buffer.from(der.subarray(2)).toString('hex')}`);
}

function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^(00)+(?=.)/, '');
}

/** Writes the root CRL into the data directory, replacing the one before it in one step (mode 0600). */
export async function writeRootCrl(layout: DataDirLayout, der: Uint8Array): Promise<void> {
  const path = layout.rootCrl;
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(der);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/** The data directory's root CRL, or undefined when this installation has none yet. */
export async function loadRootCrl(layout: DataDirLayout, root: CertificateFacts): Promise<RootCrl | undefined> {
  let der: Buffer;
  try {
    der = await readFile(layout.rootCrl);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return readRootCrl(new Uint8Array(der), root);
}

/**
 * What `hearth serve` answers GET /crl/root.crl with. The file is read again when it changes, so a
 * CRL re-signed by `hearth ca sign-root-crl` is served without a restart.
 */
export class RootCrlSource {
  private cached?: { mtimeMs: number; size: number; crl: RootCrl };

  constructor(
    private readonly layout: DataDirLayout,
    private readonly root: CertificateFacts,
  ) {}

  async current(): Promise<RootCrl> {
    const stats = await stat(this.layout.rootCrl).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!stats) {
      throw new NotFoundError(
        `this installation has no root CRL yet (it was set up before Hearth published one): sign it with the offline root key, ` +
          `\`hearth ca sign-root-crl --dir ${this.layout.root} [--root-key FILE]\`, and it is served from then on`,
      );
    }
    if (this.cached && this.cached.mtimeMs === stats.mtimeMs && this.cached.size === stats.size) return this.cached.crl;
    const crl = await loadRootCrl(this.layout, this.root);
    if (!crl) return this.current();
    this.cached = { mtimeMs: stats.mtimeMs, size: stats.size, crl };
    return crl;
  }
}

/** The root key for `hearth ca sign-root-crl` must be the root certificate's key. */
export async function assertRootSigner(signer: Signer, root: CertificateFacts): Promise<void> {
  if (Buffer.compare(Buffer.from(await signer.publicKeySpki()), Buffer.from(root.spkiDer)) !== 0) {
    throw new ConfigError('the key given is not the root CA key of this installation');
  }
}
