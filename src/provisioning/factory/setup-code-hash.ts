/**
 * What a manifest keeps of a setup code: a salted scrypt hash in PHC string format
 * (`$scrypt$ln=14,r=8,p=1$<salt>$<hash>`, unpadded base64). The operator only ever compares a code
 * a homeowner presents, so it never needs the code itself. A code has 45 random bits: a plain
 * salted SHA-256 would let whoever copies a manifest try them all on a GPU in hours per device,
 * while scrypt at 2^14 × 8 (16 MiB, ~40 ms per try) puts that out of reach. The cost parameters
 * travel in the string, so they can be raised later without breaking older manifests.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { FactoryError } from './factory-error.js';

export interface ScryptCost {
  /** log2 of N. */
  ln: number;
  r: number;
  p: number;
}

export const SETUP_CODE_SCRYPT: ScryptCost = { ln: 14, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/**
 * Bounds on parameters read back from a manifest: a hostile one must not make a verifier
 * allocate gigabytes or spin for minutes on each claim.
 */
const MIN_LN = 10;
const MAX_LN = 17;
const MAX_R = 16;
const MAX_P = 4;

const PHC = /^\$scrypt\$ln=([0-9]{1,2}),r=([0-9]{1,2}),p=([0-9])\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$/;

function unpaddedBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

function derive(code: string, salt: Uint8Array, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.ln;
  return new Promise((resolve, reject) => {
    // 128·N·r bytes is what scrypt needs; maxmem must allow it (Node's default stops at 32 MiB).
    scrypt(code, salt, HASH_BYTES, { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Hashes a canonical setup code (as parseSetupCode returns it). Runs in libuv's thread pool. */
export async function hashSetupCode(code: string, cost: ScryptCost = SETUP_CODE_SCRYPT, salt: Uint8Array = randomBytes(SALT_BYTES)): Promise<string> {
  const hash = await derive(code, salt, cost);
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${unpaddedBase64(salt)}$${unpaddedBase64(hash)}`;
}

export function isSetupCodeHash(value: string): boolean {
  try {
    parseSetupCodeHash(value);
    return true;
  } catch {
    return false;
  }
}

function parseSetupCodeHash(value: string): { cost: ScryptCost; salt: Buffer; hash: Buffer } {
  const match = PHC.exec(value);
  if (!match) throw new FactoryError('setup code hash is not a "$scrypt$ln=..,r=..,p=..$<salt>$<hash>" string', 'invalid-setup-code-hash');
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (ln < MIN_LN || ln > MAX_LN || r < 1 || r > MAX_R || p < 1 || p > MAX_P) {
    throw new FactoryError(
      `setup code hash parameters ln=${ln},r=${r},p=${p} are outside ln ${MIN_LN}..${MAX_LN}, r 1..${MAX_R}, p 1..${MAX_P}`,
      'invalid-setup-code-hash',
    );
  }
  return { cost: { ln, r, p }, salt: Buffer.from(match[4] as string, 'base64'), hash: Buffer.from(match[5] as string, 'base64') };
}

/** Whether `code` (canonical, from parseSetupCode) is the one `stored` was made from. */
export async function verifySetupCode(code: string, stored: string): Promise<boolean> {
  const { cost, salt, hash } = parseSetupCodeHash(stored);
  return timingSafeEqual(await derive(code, salt, cost), hash);
}
