/**
 * The device SDK runs on a device or a gateway without the control plane: everything reachable
 * from its entry point stays inside src/device, src/protocols, the pure encoders of src/pki and
 * src/core (and the Signer type of src/keys), never the store, the bus, the servers or services.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ALLOWED = [/^src\/device\//, /^src\/protocols\//, /^src\/pki\//, /^src\/core\//, /^src\/keys\/signer\.ts$/];
const FORBIDDEN_PKI = [/^src\/pki\/(crl|ocsp|certificate-lint)\.ts$/];

function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [resolve(entry)];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)|new URL\('(\.[^']+)'/g)) {
      const spec = (match[1] ?? match[2] ?? match[3]) as string;
      pending.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    }
  }
  return seen;
}

test('the device SDK and the fleet simulator reach no control-plane code', () => {
  const files = [...reachable('src/device/index.ts'), ...reachable('src/device/fleet-runner.ts')].map((f) => relative(process.cwd(), f));
  const outside = files.filter((f) => !ALLOWED.some((rule) => rule.test(f)) || FORBIDDEN_PKI.some((rule) => rule.test(f)));
  assert.deepEqual(outside, []);
  assert.ok(files.includes(join('src', 'protocols', 'packed-attestation.ts')), 'the walk follows imports');
  assert.ok(files.includes('src/device/fleet-worker.ts'), 'and worker entry points');
});
