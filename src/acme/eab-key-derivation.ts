/**
 * External account binding MAC keys are derived, never stored: key = HKDF-SHA256(installation
 * secret, kid). The store keeps a key's kid, policy and binding only, so a copy of the database (a
 * backup, a PostgreSQL dump, a stolen hearth.db) yields no key that could bind an account, and a
 * bound key leaves nothing behind at all. The installation secret is made once at start-up from
 * the key passphrase (scrypt, so a weak passphrase is slow to guess) salted with the installation's
 * own name, so two installations sharing a passphrase share no keys. Every control-plane process
 * of an installation derives the same keys. Changing the passphrase withdraws the unbound keys.
 */
import { hkdfSync, scrypt } from 'node:crypto';

const KEY_BYTES = 32; // HS256's own strength
/** scrypt N=2^15, r=8: 32 MiB and about a tenth of a second, once per start. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

export class EabKeyDerivation {
  private constructor(private readonly secret: Buffer) {}

  /** `installation` names this installation uniquely (its transparency log's origin). */
  static async fromPassphrase(passphrase: string, installation: string): Promise<EabKeyDerivation> {
    const secret = await new Promise<Buffer>((resolve, reject) =>
      scrypt(passphrase, `hearth acme eab-key secret\0${installation}`, KEY_BYTES, SCRYPT, (error, key) => (error ? reject(error) : resolve(key))),
    );
    return new EabKeyDerivation(secret);
  }

  /** The MAC key of `kid`: the operator hands it out once; the server derives it again to verify. */
  keyFor(kid: string): Uint8Array {
    return new Uint8Array(hkdfSync('sha256', this.secret, new Uint8Array(0), `hearth acme eab-key\0${kid}`, KEY_BYTES));
  }
}
