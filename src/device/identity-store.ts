/**
 * Where a device keeps its identity between boots: its ACME account key and operational key
 * (PKCS#8, mode 0600), its certificate chain and a small state file. Every write goes to a
 * temporary file that is renamed over the old one, so a power cut leaves the old identity or the
 * new one, never half of either. A MemoryIdentityStore serves the fleet simulator.
 */
import { generateKeyPairSync, createPrivateKey, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface DeviceState {
  accountUrl?: string;
  /** The directory the account belongs to: another server means another account. */
  directoryUrl?: string;
  certificateSerial?: string;
  notAfter?: string;
  /** The renewal time chosen inside the server's suggested window, and the window it was chosen in. */
  renewAt?: string;
  windowStart?: string;
  windowEnd?: string;
  /** When to ask the server for renewal information again. */
  recheckAt?: string;
}

export type DeviceKeyName = 'account' | 'device';

/** Holds a device's keys; the file store keeps them on disk, a custom one anywhere it likes. */
export interface DeviceKeyProvider {
  /** The named key, made (P-256) on first use. */
  key(name: DeviceKeyName): Promise<KeyObject>;
  /**
   * Replaces the named key with a new one (the server blocked the old one: it was revoked for
   * keyCompromise). A provider that cannot make keys leaves this out, and the device stops there.
   */
  replaceKey?(name: DeviceKeyName): Promise<KeyObject>;
}

export interface DeviceIdentityStore extends DeviceKeyProvider {
  readState(): Promise<DeviceState>;
  writeState(state: DeviceState): Promise<void>;
  /** The PEM chain (certificate first) or undefined before enrollment. */
  readCertificate(): Promise<string | undefined>;
  writeCertificate(pem: string): Promise<void>;
}

const newKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

function writeAtomically(path: string, contents: string, mode: number): void {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, contents, { mode, flag: 'wx' });
  chmodSync(temporary, mode);
  renameSync(temporary, path);
}

export class FileIdentityStore implements DeviceIdentityStore {
  private readonly keys = new Map<DeviceKeyName, KeyObject>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }

  async key(name: DeviceKeyName): Promise<KeyObject> {
    const cached = this.keys.get(name);
    if (cached) return cached;
    const path = join(this.dir, `${name}.key.pem`);
    let key: KeyObject;
    if (existsSync(path)) {
      key = createPrivateKey(readFileSync(path, 'utf8'));
    } else {
      key = newKey();
      writeAtomically(path, key.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    }
    this.keys.set(name, key);
    return key;
  }

  async replaceKey(name: DeviceKeyName): Promise<KeyObject> {
    const key = newKey();
    writeAtomically(join(this.dir, `${name}.key.pem`), key.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    this.keys.set(name, key);
    return key;
  }

  async readState(): Promise<DeviceState> {
    const path = join(this.dir, 'state.json');
    if (!existsSync(path)) return {};
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as DeviceState;
    } catch {
      // A state file that does not parse is only a cache of what the server knows: start over.
      return {};
    }
  }

  async writeState(state: DeviceState): Promise<void> {
    writeAtomically(join(this.dir, 'state.json'), JSON.stringify(state, null, 2) + '\n', 0o600);
  }

  async readCertificate(): Promise<string | undefined> {
    const path = join(this.dir, 'certificate.pem');
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  }

  async writeCertificate(pem: string): Promise<void> {
    writeAtomically(join(this.dir, 'certificate.pem'), pem, 0o600); // the identity directory is its owner's alone, like the gateway's
  }
}

export class MemoryIdentityStore implements DeviceIdentityStore {
  private readonly keys = new Map<DeviceKeyName, KeyObject>();
  private state: DeviceState = {};
  private certificate: string | undefined;

  async key(name: DeviceKeyName): Promise<KeyObject> {
    let key = this.keys.get(name);
    if (!key) this.keys.set(name, (key = newKey()));
    return key;
  }
  async replaceKey(name: DeviceKeyName): Promise<KeyObject> {
    const key = newKey();
    this.keys.set(name, key);
    return key;
  }
  async readState(): Promise<DeviceState> {
    return { ...this.state };
  }
  async writeState(state: DeviceState): Promise<void> {
    this.state = { ...state };
  }
  async readCertificate(): Promise<string | undefined> {
    return this.certificate;
  }
  async writeCertificate(pem: string): Promise<void> {
    this.certificate = pem;
  }
}
