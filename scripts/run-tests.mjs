// Runs every compiled test file with Node's test runner. Node 20's --test does not expand globs,
// so the list is collected here; pass name fragments to run a subset: `node scripts/run-tests.mjs store`.
// Output: a short summary (scripts/test-summary-reporter.mjs) unless `--tap` or
// HEARTH_TEST_REPORTER=tap asks for the full TAP stream (or HEARTH_TEST_REPORTER=spec|dot for
// Node's own). The exit status is the test runner's: non-zero when any test failed.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

function collect(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...collect(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const REPORTERS = ['summary', 'tap', 'spec', 'dot'];
const args = process.argv.slice(2);
const reporter = args.includes('--tap') ? 'tap' : (process.env.HEARTH_TEST_REPORTER ?? 'summary');
if (!REPORTERS.includes(reporter)) {
  console.error(`HEARTH_TEST_REPORTER=${reporter}: expected one of ${REPORTERS.join(', ')}`);
  process.exit(1);
}
const filters = args.filter((arg) => arg !== '--tap');
const files = collect('dist/test')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const reporterFlag = reporter === 'summary' ? pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'test-summary-reporter.mjs')).href : reporter;
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', `--test-reporter=${reporterFlag}`, '--test-reporter-destination=stdout', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
