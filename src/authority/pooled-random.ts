/**
 * Random bytes for serial numbers, drawn from a refilled block: one node:crypto call per
 * certificate costs more than the rest of making its serial. The bytes are the CSPRNG's all the
 * same; each is handed out once.
 */
import { randomBytes } from 'node:crypto';

const BLOCK_BYTES = 4096;

export function pooledRandomBytes(): (n: number) => Uint8Array {
  let block = randomBytes(BLOCK_BYTES);
  let used = 0;
  return (n) => {
    if (used + n > block.length) {
      block = randomBytes(Math.max(BLOCK_BYTES, n));
      used = 0;
    }
    const out = block.subarray(used, used + n);
    used += n;
    return out;
  };
}
