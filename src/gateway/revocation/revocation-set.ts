/**
 * The revoked device certificates this gateway knows of, kept on disk so a restart with the
 * control plane unreachable still refuses them. Entries are dropped once their certificate has
 * expired (expiry refuses it anyway). Written whole to a temporary file and renamed over the old
 * one, so a crash leaves either the old set or the new.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { canonicalSerialHex } from '../../pki/serial-number.js';

export interface RevokedCertificate {
  serial: string;
  /** The device the certificate named, when the control plane said. */
  identifier: string | null;
  revokedAt: string;
  /** The certificate's notAfter, when known: the entry can go after it. */
  notAfter: string | null;
}

interface RevocationFile {
  version: 1;
  /** Where the set was last brought up to date from: the push stream or a CRL. */
  source: string;
  updatedAt: string;
  revoked: RevokedCertificate[];
}

export class RevocationSet {
  private readonly bySerial = new Map<string, RevokedCertificate>();
  private listeners: ((entry: RevokedCertificate) => void)[] = [];
  source = 'none';
  updatedAt: Date | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  static async open(path: string): Promise<RevocationSet> {
    const set = new RevocationSet(path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return set;
      throw err;
    }
    const file = JSON.parse(text) as RevocationFile;
    if (file.version !== 1 || !Array.isArray(file.revoked)) throw new Error(`${path} is not a revocation set this gateway can read`);
    for (const entry of file.revoked) set.bySerial.set(canonicalSerialHex(entry.serial), entry);
    set.source = file.source;
    set.updatedAt = new Date(file.updatedAt);
    return set;
  }

  get size(): number {
    return this.bySerial.size;
  }

  has(serial: string): boolean {
    return this.bySerial.has(canonicalSerialHex(serial));
  }

  /** Called for each certificate newly added, so live sessions using it can be closed. */
  onRevoked(listener: (entry: RevokedCertificate) => void): void {
    this.listeners.push(listener);
  }

  /** Adds entries; listeners hear of each new one before the write to disk is awaited. */
  async add(entries: readonly RevokedCertificate[], source: string, now: Date): Promise<number> {
    const added: RevokedCertificate[] = [];
    for (const entry of entries) {
      const serial = canonicalSerialHex(entry.serial);
      if (this.bySerial.has(serial)) continue;
      const kept = { ...entry, serial };
      this.bySerial.set(serial, kept);
      added.push(kept);
    }
    for (const entry of added) for (const listener of this.listeners) listener(entry);
    this.source = source;
    this.updatedAt = now;
    await this.save(now);
    return added.length;
  }

  /** Drops entries of certificates that have expired. */
  async prune(now: Date): Promise<void> {
    let removed = 0;
    for (const [serial, entry] of this.bySerial) {
      if (entry.notAfter !== null && new Date(entry.notAfter) < now) {
        this.bySerial.delete(serial);
        removed++;
      }
    }
    if (removed > 0) await this.save(now);
  }

  private save(now: Date): Promise<void> {
    const file: RevocationFile = { version: 1, source: this.source, updatedAt: (this.updatedAt ?? now).toISOString(), revoked: [...this.bySerial.values()] };
    // Saves run one after another, each writing the set as it stands when it runs.
    // A failed save does not stop later ones: each writes the whole set again.
    this.saving = this.saving
      .catch(() => undefined)
      .then(async () => {
        await mkdir(dirname(this.path), { recursive: true });
        const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
        await writeFile(temporary, JSON.stringify(file), { mode: 0o600 });
        await rename(temporary, this.path);
      });
    return this.saving;
  }
}
