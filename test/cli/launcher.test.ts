/**
 * bin/hearth, the launcher installed as `hearth`: it preloads tcmalloc for `hearth gateway` when
 * the library is installed, leaves every other command and `HEARTH_MALLOC=system` alone, and
 * refuses a value it does not know. A stand-in `node` on PATH prints what it was started with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { installedTcmalloc, runCommand } from '../support/commands.js';
import { inCi } from '../support/environment.js';
import { LAUNCHER } from '../support/hearth-process.js';
import { memoryAllocator } from '../../src/cli/memory-allocator.js';
const tcmalloc = installedTcmalloc();
if (!tcmalloc && inCi) throw new Error('CI=true but libtcmalloc_minimal.so.4 is not installed; .ci/run must provide it (libtcmalloc-minimal4)');

async function launch(args: string[], env: Record<string, string> = {}) {
  const bin = mkdtempSync(join(tmpdir(), 'hearth-launcher-'));
  try {
    writeFileSync(join(bin, 'node'), '#!/bin/sh\necho "LD_PRELOAD=${LD_PRELOAD:-}"\necho "ARGS=$*"\n');
    chmodSync(join(bin, 'node'), 0o755);
    const base: Record<string, string> = { PATH: `${bin}${delimiter}/usr/bin${delimiter}/bin` };
    return await runCommand(LAUNCHER, args, { env: { ...base, ...env }, timeoutMs: 10_000 });
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

test(
  'the gateway starts with tcmalloc preloaded when it is installed',
  { skip: tcmalloc ? undefined : 'libtcmalloc_minimal.so.4 not installed (apt-get install libtcmalloc-minimal4)' },
  async () => {
    const result = await launch(['gateway', '--dir', 'x']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^LD_PRELOAD=${tcmalloc}$`, 'm'));
    assert.match(result.stdout, /^ARGS=\S+\/dist\/src\/cli\/main\.js gateway --dir x$/m);
    // Already preloaded (a launcher started from a launcher): not twice.
    const again = await launch(['gateway'], { LD_PRELOAD: `${tcmalloc}` });
    assert.match(again.stdout, new RegExp(`^LD_PRELOAD=${tcmalloc}$`, 'm'));
    // Another preload the operator set is kept, after tcmalloc.
    const other = await launch(['gateway'], { LD_PRELOAD: '/opt/other.so' });
    assert.match(other.stdout, new RegExp(`^LD_PRELOAD=${tcmalloc}:/opt/other.so$`, 'm'));
  },
);

test('other commands and HEARTH_MALLOC=system keep the system allocator', async () => {
  for (const [args, env] of [
    [['serve', '--dir', 'x'], {}],
    [['gateway'], { HEARTH_MALLOC: 'system' }],
  ] as [string[], Record<string, string>][]) {
    const result = await launch(args, env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^LD_PRELOAD=$/m, `${args.join(' ')} ${JSON.stringify(env)}`);
  }
});

test('an unknown HEARTH_MALLOC is refused before anything starts', async () => {
  const result = await launch(['gateway'], { HEARTH_MALLOC: 'jemalloc' });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /HEARTH_MALLOC must be auto, tcmalloc or system, not 'jemalloc'/);
  assert.equal(result.stdout, '');
});

test('the allocator a process runs on is read from its mappings', () => {
  assert.equal(
    memoryAllocator(() => '7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10\n'),
    'tcmalloc',
  );
  assert.equal(
    memoryAllocator(() => '7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n'),
    'system',
  );
  assert.equal(
    memoryAllocator(() => '7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n'),
    'jemalloc',
  );
  assert.equal(
    memoryAllocator(() => {
      throw new Error('ENOENT');
    }),
    'system',
  );
});
