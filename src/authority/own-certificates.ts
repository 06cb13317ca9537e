/**
 * The control plane's own short-lived certificates, renewed by its online issuing CAs once two
 * thirds of their life has passed: each issuing CA's OCSP delegate (30 days) and the API's TLS
 * certificate (90 days). A renewed certificate is used at once; writing it to the data directory
 * (for the next start) is best effort, so a read-only or full disk cannot stop a renewal from
 * taking effect.
 */
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import type { DataDirLayout } from '../core/data-dir-layout.js';
import type { Logger } from '../core/logger.js';
import { pemDecodeAll, pemEncode } from '../pki/certificate-assembly.js';
import { certificateFacts } from '../pki/certificate-facts.js';
import type { Authority } from './authority.js';
import { renewOcspDelegate, renewTlsCertificate, renewalDue } from './certificate-renewal.js';
import type { IssuingCa } from './issuing-ca.js';

/** Writes next to the file and renames over it, so a reader never sees half a certificate. */
async function replaceFile(path: string, content: string): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, content, { mode: 0o600 }); // the data directory is the owner's alone
  await rename(temporary, path);
}

export class OwnCertificates {
  constructor(
    private readonly authority: Authority,
    private readonly cas: ReadonlyMap<string, IssuingCa>,
    private readonly layout: DataDirLayout,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** The API's TLS certificate chain as served (PEM, leaf first, without the root). */
    private tlsChainPem: string,
  ) {}

  get tlsCertificatePem(): string {
    return this.tlsChainPem;
  }

  /** Renews whatever is due; answers whether the TLS certificate was renewed (the server must take it up). */
  async renewDue(): Promise<boolean> {
    for (const ca of this.cas.values()) await this.renewOcspDelegateIfDue(ca);
    return this.renewTlsIfDue();
  }

  private async renewOcspDelegateIfDue(ca: IssuingCa): Promise<void> {
    if (!renewalDue(ca.ocsp.certificate, this.clock.now())) return;
    try {
      const renewed = await renewOcspDelegate(this.authority, ca);
      ca.ocsp.certificate = renewed;
      this.logger.info({ ca: ca.name, serial: renewed.serialHex, notAfter: renewed.notAfter }, 'renewed OCSP responder certificate');
      await this.keepOnDisk(this.layout.ocspCertificate(ca.name), pemEncode('CERTIFICATE', renewed.der), 'OCSP responder certificate');
    } catch (err) {
      this.logger.error({ err, ca: ca.name }, 'renewing the OCSP responder certificate failed');
    }
  }

  private async renewTlsIfDue(): Promise<boolean> {
    const [tlsDer] = pemDecodeAll(this.tlsChainPem, 'CERTIFICATE');
    if (!tlsDer || !renewalDue(certificateFacts(tlsDer), this.clock.now())) return false;
    try {
      const renewed = await renewTlsCertificate(this.authority, certificateFacts(tlsDer));
      this.tlsChainPem = [renewed.der, ...renewed.chain.slice(0, -1)].map((der) => pemEncode('CERTIFICATE', der)).join('');
      this.logger.info({ serial: renewed.record.serial, notAfter: renewed.record.notAfter }, 'renewed the control plane TLS certificate');
      await this.keepOnDisk(this.layout.tlsCertificate, this.tlsChainPem, 'TLS certificate');
      return true;
    } catch (err) {
      this.logger.error({ err }, 'renewing the control plane TLS certificate failed');
      return false;
    }
  }

  private keepOnDisk(path: string, pem: string, what: string): Promise<void> {
    return replaceFile(path, pem).catch((err) =>
      this.logger.error({ err, path }, `could not save the renewed ${what}; it is in use but will be renewed again after a restart`),
    );
  }
}
