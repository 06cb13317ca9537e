/** The machine's raw crypto limits, measured by `openssl speed` in the same run as a benchmark. */
import { spawnSync } from 'node:child_process';

/** ECDSA P-256 signatures per second on one core. */
export function opensslEcdsaP256SignsPerSecond(seconds = 3): number | undefined {
  const result = spawnSync('openssl', ['speed', '-seconds', String(seconds), 'ecdsap256'], { encoding: 'utf8' });
  const line = result.stdout.split('\n').find((l) => /256 bits ecdsa \(nistp256\)/.test(l));
  const fields = line?.trim().split(/\s+/);
  const signs = fields ? Number(fields[fields.length - 2]) : NaN;
  return Number.isFinite(signs) ? signs : undefined;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
