import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { KeyError } from './key-error.js';

export type Pkcs11 = InstanceType<typeof pkcs11js.PKCS11>;
export type Handle = Buffer;

/** The CKR_* name of a PKCS#11 failure (e.g. "CKR_PIN_INCORRECT"), or the plain message otherwise. */
export function pkcs11ErrorName(error: unknown): string {
  if (error instanceof pkcs11js.Pkcs11Error) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function hasCode(error: unknown, code: number): boolean {
  return error instanceof pkcs11js.Pkcs11Error && error.code === code;
}

interface Login {
  sessions: number;
  /** Keyed hash of the PIN that logged in, so a later opener with a wrong PIN is still refused. */
  pinTag: Buffer;
  /** False when someone else in the process had logged in already; then it is theirs to end. */
  ownedHere: boolean;
}

// A PKCS#11 library has one global state per process: C_Initialize and C_Finalize are per library,
// and login is per token for all sessions. Signers therefore share one loaded module per path and
// count logins per token, so closing one signer never pulls the rug from under another.
const loadedModules = new Map<string, Pkcs11Module>();
const pinTagKey = randomBytes(32);

function tagPin(pin: string): Buffer {
  return createHmac('sha256', pinTagKey).update(pin, 'utf8').digest();
}

export class Pkcs11Module {
  private references = 0;
  private readonly logins = new Map<string, Login>();

  private constructor(
    readonly path: string,
    readonly library: Pkcs11,
    /** False when the library was already initialized in-process by code outside Hearth. */
    private readonly initializedHere: boolean,
  ) {}

  static acquire(path: string): Pkcs11Module {
    let loaded = loadedModules.get(path);
    if (loaded === undefined) {
      const library = new pkcs11js.PKCS11();
      try {
        library.load(path);
      } catch (error) {
        throw new KeyError(`cannot load PKCS#11 module ${path}: ${pkcs11ErrorName(error)}`);
      }
      let initializedHere = true;
      try {
        // OS locking: signing runs on libuv worker threads, so the library must lock for itself.
        library.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
      } catch (error) {
        if (!hasCode(error, pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
          library.close();
          throw new KeyError(`cannot initialize PKCS#11 module ${path}: ${pkcs11ErrorName(error)}`);
        }
        initializedHere = false;
      }
      loaded = new Pkcs11Module(path, library, initializedHere);
      loadedModules.set(path, loaded);
    }
    loaded.references++;
    return loaded;
  }

  release(): void {
    if (--this.references > 0) return;
    loadedModules.delete(this.path);
    if (this.initializedHere) {
      try {
        this.library.C_Finalize();
      } catch {
        // Nothing useful can be done about a failing finalize while shutting down.
      }
    }
    this.library.close();
  }

  /** Finds the slot holding the token with this label; labels are padded to 32 bytes on tokens. */
  findSlot(tokenLabel: string): Handle {
    const labels: string[] = [];
    const matches: Handle[] = [];
    for (const slot of this.library.C_GetSlotList(true)) {
      const label = this.library.C_GetTokenInfo(slot).label.trimEnd();
      labels.push(label);
      if (label === tokenLabel) matches.push(slot);
    }
    if (matches.length > 1) throw new KeyError(`${matches.length} PKCS#11 tokens are labelled "${tokenLabel}"`);
    const [slot] = matches;
    if (slot === undefined) {
      const known = labels.length > 0 ? labels.map((l) => `"${l}"`).join(', ') : 'none';
      throw new KeyError(`no PKCS#11 token labelled "${tokenLabel}" in ${this.path} (tokens present: ${known})`);
    }
    return slot;
  }

  /** Logs the user in on `slot` unless a session of this process already has, checking the PIN either way. */
  login(session: Handle, slot: Handle, tokenLabel: string, pin: string): void {
    const key = slot.toString('hex');
    const pinTag = tagPin(pin);
    const existing = this.logins.get(key);
    if (existing !== undefined) {
      if (!timingSafeEqual(existing.pinTag, pinTag)) throw new KeyError(`wrong PIN for PKCS#11 token "${tokenLabel}"`);
      existing.sessions++;
      return;
    }
    let ownedHere = true;
    try {
      this.library.C_Login(session, pkcs11js.CKU_USER, pin);
    } catch (error) {
      if (hasCode(error, pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) {
        ownedHere = false;
      } else if (hasCode(error, pkcs11js.CKR_PIN_INCORRECT) || hasCode(error, pkcs11js.CKR_PIN_LEN_RANGE)) {
        throw new KeyError(`wrong PIN for PKCS#11 token "${tokenLabel}"`);
      } else if (hasCode(error, pkcs11js.CKR_PIN_LOCKED)) {
        throw new KeyError(`the user PIN of PKCS#11 token "${tokenLabel}" is locked`);
      } else {
        throw new KeyError(`cannot log in to PKCS#11 token "${tokenLabel}": ${pkcs11ErrorName(error)}`);
      }
    }
    this.logins.set(key, { sessions: 1, pinTag, ownedHere });
  }

  /** Ends this session's share of the login; the last one logs out (login is per token, not session). */
  logout(session: Handle, slot: Handle): void {
    const key = slot.toString('hex');
    const login = this.logins.get(key);
    if (login === undefined || --login.sessions > 0) return;
    this.logins.delete(key);
    if (!login.ownedHere) return;
    try {
      this.library.C_Logout(session);
    } catch {
      // Closing the session below ends the login anyway.
    }
  }
}
