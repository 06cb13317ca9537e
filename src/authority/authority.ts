/**
 * The single place that issues and revokes. Issuance follows Boulder's order so a crash can never
 * leave a certificate the store does not know: build and lint the to-be-signed certificate, store
 * it with its serial as `pending`, and only then sign; the signed DER is stored as `issued`, in the
 * same transaction as its transparency-log leaf, before anyone sees it. Events go out on the bus
 * after the store has committed.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { BadRequestError, BlockedKeyError, ConflictError, IssuingCaRevokedError, NotFoundError, UniqueViolationError } from '../core/errors.js';
import type { EventBus } from '../bus/bus.js';
import type { BlockedKeyRecord, CertificateRecord, NewPendingCertificate, RevocationReason, Store } from '../store/store.js';
import { inspectSubjectKey } from '../pki/csr.js';
import { getProfile, type CertificateProfile } from '../pki/profiles.js';
import { assembleCertificate } from '../pki/certificate-assembly.js';
import { isValidDnsName, isValidIpAddress } from '../pki/name.js';
import type { IssuingCa } from './issuing-ca.js';
import { GroupCommit } from './group-commit.js';
import { CertificateWrites } from './certificate-writes.js';
import { draftCertificate, draftFromCsr, type CertificateDraft, type DraftingCa } from './certificate-draft.js';
import { DraftWorkers } from './draft-workers.js';
import { pooledRandomBytes } from './pooled-random.js';
import { appendToLog } from '../transparency/log-writer.js';
import { LOG_ENTRY_VERSION, type CertificateIssuedEntry } from '../ledger/log-entry.js';
import { REVOCATION_REASONS, revocationReasonName } from '../pki/revocation-reason.js';
import type { RevokedIssuingCas } from './revoked-issuing-cas.js';
import { certificateFacts, tbsSpkiDer } from '../pki/certificate-facts.js';
import { keyFingerprint } from '../pki/key-fingerprint.js';
import { commonNameFor, type IssuedSubject } from './requested-subject.js';

/** Serial collisions at 128 bits are astronomically rare; a few retries mean a broken RNG. */
const SERIAL_ATTEMPTS = 3;

const REQUESTABLE_PROFILES: ReadonlySet<string> = new Set(['device', 'gateway', 'service']);

export interface IssueRequest {
  csr: string | Uint8Array;
  profile: string;
  /** RFC 8520 MUD URL of the device's model (device profile only). */
  mudUrl?: string;
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
  /**
   * Worker threads that check CSRs and draft certificates; 0 (the default) drafts on the event
   * loop. A server sets it to the number of cores. Call close() to stop them.
   */
  draftWorkers?: number;
  /** A request carried a key blocked for keyCompromise (a security event for whoever watches). */
  onBlockedKey?: (refusal: { spkiSha256: string; profile: string; identifier: string; blockedBy: string | null }) => void;
}

export class Authority {
  private readonly revocationListeners: RevocationListener[] = [];
  readonly origin: string;
  private readonly reportError: (err: unknown, context: string) => void;
  private readonly onBlockedKey: NonNullable<AuthorityOptions['onBlockedKey']>;
  /** Pending and issued rows, group-committed (certificate-writes.ts). */
  private readonly writes: CertificateWrites;
  /**
   * Blocked-key checks are gathered like writes, one IN query per batch, in a pipeline of their
   * own: a batch's check runs while the previous batch's rows are being written.
   */
  private readonly blockedKeyChecks: GroupCommit<string, BlockedKeyRecord | undefined>;
  private readonly drafting: ReadonlyMap<string, DraftingCa>;
  private readonly workers: DraftWorkers | undefined;
  private readonly randomBytes = pooledRandomBytes();
  private revokedCas: RevokedIssuingCas = new Map();

  constructor(
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly cas: ReadonlyMap<string, IssuingCa>,
    private readonly clock: Clock,
    urls: PublicUrls,
    options: AuthorityOptions = {},
  ) {
    this.origin = options.origin ?? randomUUID();
    this.reportError = options.reportError ?? ((err, context) => console.error(`${context}: ${(err as Error).message}`));
    this.onBlockedKey = options.onBlockedKey ?? (() => undefined);
    this.writes = new CertificateWrites(store, clock);
    this.blockedKeyChecks = new GroupCommit(async (keys) => {
      const blocked = await this.store.certificates.findBlockedKeys([...new Set(keys)]);
      return keys.map((key) => ({ ok: true, value: blocked.get(key) }));
    });
    this.drafting = new Map(
      [...cas.values()].map((ca) => [
        ca.name,
        {
          name: ca.name,
          issuer: {
            name: ca.certificate.subjectNameDer,
            keyIdentifier: ca.certificate.keyIdentifier,
            signatureAlgorithm: ca.signer.algorithm,
            notAfter: ca.certificate.notAfter,
          },
          urls: { ocsp: urls.ocsp, caIssuers: urls.caIssuers(ca.name), crl: urls.crl(ca.name) },
        },
      ]),
    );
    this.workers = options.draftWorkers ? new DraftWorkers([...this.drafting.values()], options.draftWorkers) : undefined;
  }

  /** The issuing CAs the root CRL revokes (revoked-issuing-cas.ts): nothing more is issued from them. */
  setRevokedIssuingCas(revoked: RevokedIssuingCas): void {
    this.revokedCas = revoked;
  }

  /** Stops the draft workers; issuance in flight fails. */
  async close(): Promise<void> {
    await this.workers?.close();
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
    if (request.mudUrl !== undefined && !profile.mudUrl) throw new BadRequestError(`a ${profile.name} certificate cannot carry a MUD URL`);
    const extras = request.mudUrl !== undefined ? { mudUrl: request.mudUrl } : {};
    const drafting = this.drafting.get(ca.name) as DraftingCa;
    const workers = this.workers;
    return this.issueCertificate(profile, ca, () =>
      workers
        ? workers.draft(profile.name, ca.name, request.csr, this.clock.now(), extras)
        : draftFromCsr(profile, drafting, request.csr, { now: this.clock.now(), randomBytes: this.randomBytes }, extras),
    );
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
    const drafting = this.drafting.get(ca.name) as DraftingCa;
    return this.issueCertificate(profile, ca, () =>
      draftCertificate(profile, drafting, { spki: request.spki, ...subject }, { now: this.clock.now(), randomBytes: this.randomBytes }),
    );
  }

  /**
   * The one issuance path: a draft (fresh serial, template, lint), the pending row (committed with
   * whatever else is being issued at the moment), then the signature, the issued row and the event.
   * A serial that collides is drafted again.
   */
  private async issueCertificate(
    profile: CertificateProfile,
    ca: IssuingCa,
    draft: () => CertificateDraft | Promise<CertificateDraft>,
  ): Promise<IssuedCertificate> {
    const caRevoked = this.revokedCas.get(ca.name);
    if (caRevoked) {
      throw new IssuingCaRevokedError(
        ca.name,
        `the root CRL revokes the ${ca.name} CA (serial ${caRevoked.serial}, reason ${revocationReasonName(caRevoked.reason as RevocationReason)}, since ${caRevoked.revokedAt.toISOString()}); nothing more is issued from it until it is replaced`,
      );
    }
    let pending: NewPendingCertificate | undefined;
    let drafted: CertificateDraft | undefined;
    for (let attempt = 0; attempt < SERIAL_ATTEMPTS && !pending; attempt++) {
      drafted = await draft();
      if (attempt === 0) {
        // Every path (REST, ACME, renewals, the control plane's own keys) comes through here, so
        // a key revoked for keyCompromise is refused on all of them, before anything is stored.
        const block = await this.blockedKeyChecks.submit(drafted.keySha256);
        if (block) {
          this.onBlockedKey({ spkiSha256: drafted.keySha256, profile: profile.name, identifier: drafted.identifier, blockedBy: block.serial });
          throw new BlockedKeyError(drafted.keySha256);
        }
        await this.refuseUnregisteredGateway(profile, drafted);
      }
      const row: NewPendingCertificate = {
        serial: drafted.serial,
        ca: ca.name,
        profile: profile.name,
        identifier: drafted.identifier,
        tbs: drafted.tbs,
        notBefore: drafted.notBefore,
        notAfter: drafted.notAfter,
        createdAt: this.clock.now(),
      };
      try {
        await this.writes.submit({ kind: 'pending', row });
        pending = row;
      } catch (err) {
        if (!(err instanceof UniqueViolationError)) throw err;
      }
    }
    if (!pending || !drafted) throw new Error(`could not find an unused serial number in ${SERIAL_ATTEMPTS} attempts`);

    const der = assembleCertificate(pending.tbs, ca.signer.algorithm, await ca.signer.sign(pending.tbs));
    const entry: CertificateIssuedEntry = {
      v: LOG_ENTRY_VERSION,
      kind: 'cert.issued',
      time: this.clock.now().toISOString(),
      serial: pending.serial,
      issuer: ca.name,
      profile: profile.name,
      subject: { identifier: drafted.identifier, ...drafted.names },
      spkiSha256: drafted.spkiSha256,
      certificateSha256: createHash('sha256').update(der).digest('hex'),
      notBefore: pending.notBefore.toISOString(),
      notAfter: pending.notAfter.toISOString(),
    };
    if (!(await this.writes.submit({ kind: 'issued', serial: pending.serial, der, entry }))) {
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

  /** A gateway certificate speaks for a gateway: it is issued only for a registered, active one's name. */
  private async refuseUnregisteredGateway(profile: CertificateProfile, drafted: CertificateDraft): Promise<void> {
    if (profile.name !== 'gateway') return;
    const gateway = await this.store.gateways.getGateway(drafted.identifier);
    if (gateway?.status !== 'active') {
      throw new BadRequestError(
        `a gateway certificate is issued only for a registered, active gateway; ${drafted.identifier} is ${gateway ? gateway.status : 'not registered'} (hearth gateways register)`,
        'unregistered-gateway',
      );
    }
  }

  async revoke(serial: string, reason: RevocationReason): Promise<CertificateRecord> {
    const at = this.clock.now();
    // Revoked in the same transaction that puts the revocation in the transparency log, and, for
    // keyCompromise, that blocks the key (as Boulder does): no path may certify it again.
    const record = await this.store.transaction(async (tx) => {
      if (!(await tx.certificates.revokeCertificate(serial, reason, at))) return undefined;
      const revoked = (await tx.certificates.getCertificate(serial)) as CertificateRecord;
      if (reason === REVOCATION_REASONS.keyCompromise) {
        const spki = revoked.der ? certificateFacts(revoked.der).spkiDer : tbsSpkiDer(revoked.tbs);
        await tx.certificates.blockKeys([{ spkiSha256: keyFingerprint(spki), serial, reason: 'keyCompromise', blockedAt: at }]);
      }
      await appendToLog(
        tx,
        [
          {
            v: LOG_ENTRY_VERSION,
            kind: 'cert.revoked',
            time: at.toISOString(),
            serial,
            issuer: revoked.ca,
            reason: revocationReasonName(reason),
            revokedAt: at.toISOString(),
          },
        ],
        at,
      );
      return revoked;
    });
    if (!record) {
      const existing = await this.store.certificates.getCertificate(serial);
      if (!existing) throw new NotFoundError(`no certificate with serial ${serial}`);
      throw new ConflictError(`certificate ${serial} is already revoked`, 'already-revoked');
    }
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
    await this.publish(
      'cert.revoked',
      { serial, ca: record.ca, reason, revokedAt: at.toISOString(), identifier: record.identifier, notAfter: record.notAfter.toISOString() },
      at,
    );
    return record;
  }

  issuingCa(name: string): IssuingCa | undefined {
    return this.cas.get(name);
  }
}
