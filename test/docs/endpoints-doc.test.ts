/**
 * docs/endpoints.md is generated from the control plane's OpenAPI document
 * (scripts/endpoints-doc.mjs): regenerated here, it must be what is committed, so a route added,
 * removed or changed without `npm run docs:endpoints` fails this test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

test('docs/endpoints.md is what the control plane describes', () => {
  const generated = spawnSync(process.execPath, ['scripts/endpoints-doc.mjs', '--stdout'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(generated.status, 0, `scripts/endpoints-doc.mjs failed:\n${generated.stderr}`);
  const committed = readFileSync('docs/endpoints.md', 'utf8');
  if (generated.stdout === committed) return;
  const want = generated.stdout.split('\n');
  const have = committed.split('\n');
  const line = want.findIndex((text, i) => text !== have[i]);
  assert.fail(
    `docs/endpoints.md is stale: run npm run docs:endpoints\n  first difference at line ${line + 1}:\n  committed: ${JSON.stringify(have[line])}\n  generated: ${JSON.stringify(want[line])}`,
  );
});
