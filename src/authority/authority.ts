/**
 * The single place that issues and revokes. Issuance follows Boulder's order so a crash can never
 * leave a certificate the store does not know: build and lint the to-be-signed certificate, store
 * it with its serial as `pending`, and only then sign; the signed DER is stored as `issued` before
 * anyone sees it. Events go out on the bus after the store has committed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { BadCsrError, BadRequestError, ConflictError, LintError, NotFoundError, UniqueViolationError } from '../core/errors.js';
import type { EventBus } from '../bus/bus.js';
import type { CertificateRecord, NewPendingCertificate, RevocationReason, Store } from '../store/store.js';
import { inspectSubjectKey, parseCsr, type ParsedCsr } from '../pki/csr.js';
import { getProfile, type CertificateProfile } from '../pki/profiles.js';
import { newSerialNumber } from '../pki/serial-number.js';
import { buildTbsCertificate, type SubjectInput } from '../pki/certificate-template.js';
import { lintTbsCertificate } from '../pki/certificate-lint.js';
import { assembleCertificate } from '../pki/certificate-assembly.js';
import { isDeviceId } from '../pki/device-id.js';
import { MAX_COMMON_NAME_LENGTH, isValidDnsName, isValidIpAddress } from '../pki/name.js';
import type { IssuingCa } from './issuing-ca.js';
import { GroupCommit, type ItemOutcome } from './group-commit.js';

/** Serial collisions at 128 bits are astronomically rare; a few retries mean a broken RNG. */
const SERIAL_ATTEMPTS = 3;

const REQUESTABLE_PROFILES: ReadonlySet<string> = new Set(['device', 'gateway', 'service']);

export interface IssueRequest {
  csr: string | Uint8Array;
  profile: string;
}

/**
 * A certificate for a key the control plane already holds (its OCSP delegates, its TLS key), so
 * there is no CSR: possession is the control plane's own.
 */
export interface IssueForKeyRequest {
  profile: 'ocsp-signer' | 'service';
  ca: 'devices' | 'services';
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  commonName?: string;
  organization?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
}

export interface IssuedCertificate {
  record: CertificateRecord;
  der: Uint8Array;
  /** Issuing CA first, up to the root. */
  chain: Uint8Array[];
}

export interface RevocationListener {
  (record: CertificateRecord): Promise<void> | void;
}

export interface PublicUrls {
  ocsp: string;
  caIssuers: (ca: string) => string;
  crl: (ca: string) => string;
}

export interface AuthorityOptions {
  /** Names this process in the events it publishes, so it can skip its own on the bus. */
  origin?: string;
  /** Failures after the store committed (event publishing, listeners): the operation stands. */
  reportError?: (err: unknown, context: string) => void;
}

export class Authority {
  private readonly revocationListeners: RevocationListener[] = [];
  readonly origin: string;
  private readonly reportError: (err: unknown, context: string) => void;
  private readonly pendingWrites: GroupCommit<NewPendingCertificate, void>;
  private readonly issuedWrites: GroupCommit<{ serial: string; der: Uint8Array }, boolean>;

  constructor(
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly cas: ReadonlyMap<string, IssuingCa>,
    private readonly clock: Clock,
    private readonly urls: PublicUrls,
    options: AuthorityOptions = {},
  ) {
    this.origin = options.origin ?? randomUUID();
    this.reportError = options.reportError ?? ((err, context) => console.error(`${context}: ${(err as Error).message}`));
    this.pendingWrites = new GroupCommit((items) => this.insertPending(items));
    this.issuedWrites = new GroupCommit(async (items) =>
      (await this.store.markCertificatesIssued(items)).map((value) => ({ ok: true, value })),
    );
  }

  /** One statement for the batch; if a serial collides, each is retried alone so only it fails. */
  private async insertPending(items: NewPendingCertificate[]): Promise<ItemOutcome<void>[]> {
    try {
      await this.store.insertPendingCertificates(items);
      return items.map(() => ({ ok: true, value: undefined }));
    } catch (err) {
      if (!(err instanceof UniqueViolationError) || items.length === 1) throw err;
      const outcomes: ItemOutcome<void>[] = [];
      for (const item of items) {
        try {
          await this.store.insertPendingCertificate(item);
          outcomes.push({ ok: true, value: undefined });
        } catch (error) {
          outcomes.push({ ok: false, error });
        }
      }
      return outcomes;
    }
  }

  /**
   * Publishes after the store committed. A failure is reported, not thrown: the certificate or
   * revocation exists, and failing the request would make a client retry something that happened.
   */
  private async publish(type: string, data: Record<string, unknown>, occurredAt: Date): Promise<void> {
    try {
      await this.bus.publish({ id: randomUUID(), type, occurredAt: occurredAt.toISOString(), data: { ...data, origin: this.origin } });
    } catch (err) {
      this.reportError(err, `publishing ${type} for ${String(data.serial)}`);
    }
  }

  /** Runs after each revocation committed (CRL regeneration, OCSP cache invalidation). */
  onRevoked(listener: RevocationListener): void {
    this.revocationListeners.push(listener);
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const profile = getProfile(request.profile);
    // CA and OCSP-delegate profiles are made by `hearth init`, never on request.
    const ca = REQUESTABLE_PROFILES.has(profile.name) ? this.cas.get(profile.issuedBy) : undefined;
    if (!ca) throw new BadRequestError(`profile "${profile.name}" cannot be requested; use one of ${[...REQUESTABLE_PROFILES].join(', ')}`, 'unknown-profile');
    const csr = await parseCsr(request.csr);
    return this.issueCertificate(profile, ca, { spki: csr.spki, ...subjectFor(profile, csr) });
  }

  /** Issues (and renews) the control plane's own certificates: OCSP delegates and its TLS certificate. */
  async issueForKey(request: IssueForKeyRequest): Promise<IssuedCertificate> {
    const profile = getProfile(request.profile);
    if (profile.name !== 'ocsp-signer' && profile.name !== 'service') {
      throw new BadRequestError(`profile "${profile.name}" cannot be issued for a key; use ocsp-signer or service`, 'unknown-profile');
    }
    const ca = this.cas.get(request.ca);
    if (!ca) throw new NotFoundError(`no issuing CA named "${request.ca}"`);
    if (profile.issuedBy !== 'any-issuing-ca' && profile.issuedBy !== ca.name) {
      throw new BadRequestError(`the ${profile.name} profile is issued by the ${profile.issuedBy} CA, not ${ca.name}`);
    }
    inspectSubjectKey(request.spki, (reason) => new BadRequestError(reason));
    const dnsNames = [...new Set(request.dnsNames ?? [])];
    const ipAddresses = [...new Set(request.ipAddresses ?? [])];
    let subject: IssuedSubject;
    if (profile.name === 'ocsp-signer') {
      if (!request.commonName) throw new BadRequestError('an OCSP delegate certificate needs a common name');
      if (dnsNames.length > 0 || ipAddresses.length > 0) throw new BadRequestError('an OCSP delegate certificate names no hosts');
      subject = { identifier: request.commonName, commonName: request.commonName, organization: request.organization };
    } else {
      const invalid = [...dnsNames.filter((n) => !isValidDnsName(n, { allowWildcard: true })), ...ipAddresses.filter((ip) => !isValidIpAddress(ip))];
      if (invalid.length > 0) throw new BadRequestError(`not a valid DNS name or IP address: ${invalid.map((n) => `"${n}"`).join(', ')}`);
      const identifier = dnsNames[0] ?? ipAddresses[0];
      if (!identifier) throw new BadRequestError('a service certificate needs at least one DNS name or IP address');
      subject = { identifier, commonName: request.commonName ?? commonNameFor(dnsNames), organization: request.organization, dnsNames, ipAddresses };
    }
    return this.issueCertificate(profile, ca, { spki: request.spki, ...subject });
  }

  /**
   * The one issuance path: a fresh serial, the template, the lint, the pending row (committed with
   * whatever else is being issued at the moment), then the signature, the issued row and the event.
   */
  private async issueCertificate(profile: CertificateProfile, ca: IssuingCa, subject: SubjectInput & { identifier: string }): Promise<IssuedCertificate> {
    const issuer = {
      name: ca.certificate.subjectNameDer,
      keyIdentifier: ca.certificate.keyIdentifier,
      signatureAlgorithm: ca.signer.algorithm,
      notAfter: ca.certificate.notAfter,
    };
    const urls = { ocsp: this.urls.ocsp, caIssuers: this.urls.caIssuers(ca.name), crl: this.urls.crl(ca.name) };
    let pending: NewPendingCertificate | undefined;
    for (let attempt = 0; attempt < SERIAL_ATTEMPTS && !pending; attempt++) {
      const serial = newSerialNumber((n) => randomBytes(n));
      const built = buildTbsCertificate({ profile, serialHex: serial.hex, issuer, subject, urls, clock: this.clock });
      const findings = lintTbsCertificate(built.tbs, profile, { issuer, urls });
      if (findings.length > 0) throw new LintError(findings);
      const row: NewPendingCertificate = {
        serial: serial.hex,
        ca: ca.name,
        profile: profile.name,
        identifier: subject.identifier,
        tbs: built.tbs,
        notBefore: built.notBefore,
        notAfter: built.notAfter,
        createdAt: this.clock.now(),
      };
      try {
        await this.pendingWrites.submit(row);
        pending = row;
      } catch (err) {
        if (!(err instanceof UniqueViolationError)) throw err;
      }
    }
    if (!pending) throw new Error(`could not find an unused serial number in ${SERIAL_ATTEMPTS} attempts`);

    const der = assembleCertificate(pending.tbs, ca.signer.algorithm, await ca.signer.sign(pending.tbs));
    if (!(await this.issuedWrites.submit({ serial: pending.serial, der }))) {
      throw new ConflictError(`certificate ${pending.serial} changed state while it was being signed`);
    }
    const record: CertificateRecord = { ...pending, der, state: 'issued', revokedAt: null, revocationReason: null };
    await this.publish(
      'cert.issued',
      { serial: record.serial, ca: record.ca, profile: record.profile, identifier: record.identifier, notAfter: record.notAfter.toISOString() },
      this.clock.now(),
    );
    return { record, der, chain: [ca.certificate.der, ...ca.chainAbove.map((c) => c.der)] };
  }

  async revoke(serial: string, reason: RevocationReason): Promise<CertificateRecord> {
    const at = this.clock.now();
    if (!(await this.store.revokeCertificate(serial, reason, at))) {
      const existing = await this.store.getCertificate(serial);
      if (!existing) throw new NotFoundError(`no certificate with serial ${serial}`);
      throw new ConflictError(`certificate ${serial} is already revoked`, 'already-revoked');
    }
    const record = (await this.store.getCertificate(serial)) as CertificateRecord;
    // This process's own answers (OCSP cache, CRL) are put right first, so a slow or broken bus
    // can never keep it serving the old status; each listener runs on its own so one failing
    // keeps neither the others nor the event from happening.
    for (const listener of this.revocationListeners) {
      try {
        await listener(record);
      } catch (err) {
        this.reportError(err, `after revoking ${serial}`);
      }
    }
    await this.publish('cert.revoked', { serial, ca: record.ca, reason, revokedAt: at.toISOString(), identifier: record.identifier }, at);
    return record;
  }

  issuingCa(name: string): IssuingCa | undefined {
    return this.cas.get(name);
  }
}

type IssuedSubject = Omit<SubjectInput, 'spki'> & { identifier: string };

/**
 * What the certificate will name, taken from the CSR and checked against the profile's
 * subjectAltName rule (certificate-lint.ts) so a request the lint would refuse is refused here as
 * the client's mistake (400) rather than reaching the lint (422).
 */
function subjectFor(profile: CertificateProfile, csr: ParsedCsr): IssuedSubject {
  const deviceIds = [...new Set([...csr.uris, ...(csr.commonName ? [csr.commonName] : [])].filter(isDeviceId))];
  if (profile.name === 'device') {
    if (deviceIds.length !== 1) {
      throw new BadCsrError('a device CSR must name exactly one device identifier (urn:dev:ops:<vendor>-<model>-<serial>) as SAN URI or common name');
    }
    if (csr.dnsNames.length > 0 || csr.ipAddresses.length > 0) throw new BadCsrError('a device CSR may not request DNS names or IP addresses');
    const id = deviceIds[0] as string;
    return { identifier: id, commonName: id, dnsNames: [], uris: [id], ipAddresses: [], permanentIdentifier: id };
  }
  const allowWildcard = profile.allowWildcardDns;
  const invalid = csr.dnsNames.find((name) => !isValidDnsName(name, { allowWildcard }));
  if (invalid !== undefined) throw new BadCsrError(`"${invalid}" is not a valid ${allowWildcard ? '' : 'non-wildcard '}lower-case DNS name`);
  const commonNameIsHost = csr.commonName !== undefined && isValidDnsName(csr.commonName, { allowWildcard });
  const dnsNames = [...new Set([...csr.dnsNames, ...(commonNameIsHost ? [csr.commonName as string] : [])])];
  const commonName = commonNameFor(dnsNames);

  if (profile.name === 'gateway') {
    if (csr.ipAddresses.length > 0) throw new BadCsrError('a gateway certificate may not name IP addresses');
    if (deviceIds.length > 1) throw new BadCsrError('a gateway certificate may name at most one device identifier');
    const identifier = dnsNames[0] ?? deviceIds[0];
    if (!identifier) throw new BadCsrError('a gateway CSR must request at least one DNS name or a device identifier');
    return { identifier, commonName, dnsNames, uris: deviceIds, ipAddresses: [] };
  }
  const identifier = dnsNames[0] ?? csr.ipAddresses[0];
  if (!identifier) throw new BadCsrError(`a ${profile.name} CSR must request at least one DNS name or IP address`);
  return { identifier, commonName, dnsNames, uris: [], ipAddresses: csr.ipAddresses };
}

/**
 * The first DNS name doubles as common name for clients that still read it, unless it is longer
 * than a common name may be (RFC 5280 ub-common-name); the SAN alone then names the host.
 */
function commonNameFor(dnsNames: readonly string[]): string | undefined {
  const first = dnsNames[0];
  return first !== undefined && first.length <= MAX_COMMON_NAME_LENGTH ? first : undefined;
}
