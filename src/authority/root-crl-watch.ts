/**
 * Keeps the authority's list of revoked issuing CAs in step with the root CRL on disk: an issuing
 * CA the root CRL revokes issues nothing more. Read at start and again as the CRL may change
 * (`hearth ca sign-root-crl` writes a new one while the server runs).
 */
import type { Logger } from '../core/logger.js';
import { NotFoundError } from '../core/errors.js';
import type { Authority } from './authority.js';
import type { IssuingCa } from './issuing-ca.js';
import type { RootCrl, RootCrlSource } from './root-crl.js';
import { issuingCasRevokedBy, type RevokedIssuingCas } from './revoked-issuing-cas.js';

export class RootCrlWatch {
  private revoked: RevokedIssuingCas = new Map();

  constructor(
    private readonly rootCrl: Pick<RootCrlSource, 'current'>,
    private readonly cas: ReadonlyMap<string, IssuingCa>,
    private readonly authority: Pick<Authority, 'setRevokedIssuingCas'>,
    private readonly logger: Logger,
  ) {}

  /** Reads the root CRL; an unreadable one is logged and leaves the list as it was. */
  async check(): Promise<void> {
    let crl: RootCrl | undefined;
    try {
      crl = await this.rootCrl.current();
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        this.logger.error({ err }, 'reading the root CRL failed');
        return;
      }
    }
    const revoked = issuingCasRevokedBy(crl, this.cas);
    for (const [name, entry] of revoked) {
      if (!this.revoked.has(name))
        this.logger.error({ ca: name, serial: entry.serial }, 'the root CRL revokes this issuing CA: nothing more is issued from it until it is replaced');
    }
    this.revoked = revoked;
    this.authority.setRevokedIssuingCas(revoked);
  }
}
