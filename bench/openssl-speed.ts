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

/** ECDSA signs and verifies per second on one core for a curve (nistp256, nistp384), from `openssl speed`. */
export function opensslEcdsa(curve: 'nistp256' | 'nistp384', seconds = 2): { sign: number; verify: number } | undefined {
  const result = spawnSync('openssl', ['speed', '-seconds', String(seconds), curve === 'nistp256' ? 'ecdsap256' : 'ecdsap384'], { encoding: 'utf8' });
  const line = result.stdout?.split('\n').find((l) => l.includes(`ecdsa (${curve})`));
  const fields = line?.trim().split(/\s+/);
  const sign = fields ? Number(fields[fields.length - 2]) : NaN;
  const verify = fields ? Number(fields[fields.length - 1]) : NaN;
  return Number.isFinite(sign) && Number.isFinite(verify) ? { sign, verify } : undefined;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * SHA-256 throughput on one core by message size, in bytes per second, from
 * `openssl speed -seconds S sha256` (whose table is in 1000s of bytes per second); undefined when
 * openssl is missing or prints something else.
 */
export function opensslSha256BytesPerSecond(seconds = 1): Map<number, number> | undefined {
  const result = spawnSync('openssl', ['speed', '-seconds', String(seconds), 'sha256'], { encoding: 'utf8' });
  if (result.error || typeof result.stdout !== 'string') return undefined;
  const lines = result.stdout.split('\n');
  const header = lines.find((l) => /^type\s/.test(l));
  const row = lines.find((l) => /^sha256\s/.test(l));
  if (!header || !row) return undefined;
  const sizes = [...header.matchAll(/(\d+) bytes/g)].map((m) => Number(m[1]));
  const rates = row
    .trim()
    .split(/\s+/)
    .slice(1)
    .map((v) => (/^[\d.]+k$/.test(v) ? Number(v.slice(0, -1)) * 1000 : NaN));
  const bySize = new Map<number, number>();
  sizes.forEach((size, i) => {
    const rate = rates[i];
    if (rate !== undefined && Number.isFinite(rate)) bySize.set(size, rate);
  });
  return bySize.size > 0 ? bySize : undefined;
}
