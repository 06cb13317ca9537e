/**
 * External account binding MAC keys are derived, never stored: key = HKDF-SHA256(installation
 * secret, kid). The store keeps a key's kid, policy and binding only, so a copy of the database (a
 * backup, a PostgreSQL dump, a stolen hearth.db) yields no key that could bind an account, and a
 * bound key leaves nothing behind at all. The installation secret is 32 random bytes in
 * `private/eab-secret` (0600), made by `hearth init` (or by the first start of an installation
 * made before it), and copied with the data directory to every control-plane process. It is
 * random rather than derived from the key passphrase: every EAB key handed out would otherwise
 * let its holder test guesses of the passphrase offline. Replacing the file withdraws the unbound keys.
 */
import { randomBytes, hkdfSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../core/errors.js';

const KEY_BYTES = 32; // HS256's own strength

export class EabKeyDerivation {
  private constructor(private readonly secret: Buffer) {}

  /** A new secret for `path` (0600); refuses to replace one that exists. */
  static async createSecretFile(path: string): Promise<void> {
    await writeFile(path, `${randomBytes(KEY_BYTES).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }

  /** The installation's secret from `path`, made there first when the installation has none yet. */
  static async fromSecretFile(path: string): Promise<{ keys: EabKeyDerivation; created: boolean }> {
    let created = false;
    try {
      await EabKeyDerivation.createSecretFile(path);
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const text = (await readFile(path, 'utf8')).trim();
    const secret = /^[A-Za-z0-9_-]{43}$/.test(text) ? Buffer.from(text, 'base64url') : undefined;
    if (secret?.length !== KEY_BYTES) throw new ConfigError(`${path} does not hold a 32-byte base64url secret`);
    return { keys: new EabKeyDerivation(secret), created };
  }

  /**
   * Another secret from the same installation secret, under a label of its own (an OAuth client's
   * secret, the authorization server's keys): as with EAB keys, nothing of it is stored.
   */
  subkey(label: string, bytes = KEY_BYTES): Uint8Array {
    return new Uint8Array(hkdfSync('sha256', this.secret, new Uint8Array(0), `hearth ${label}`, bytes));
  }

  /** The MAC key of `kid`: the operator hands it out once; the server derives it again to verify. */
  keyFor(kid: string): Uint8Array {
    return new Uint8Array(hkdfSync('sha256', this.secret, new Uint8Array(0), `hearth acme eab-key\0${kid}`, KEY_BYTES));
  }
}
