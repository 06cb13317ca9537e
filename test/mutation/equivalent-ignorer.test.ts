/**
 * The equivalent-mutant ignorer of `npm run mutate`: `--changed` runs several groups in one
 * process, and the plugin module is imported once, so it must take each group's entries as that
 * group runs. It once kept the first group's (none), and every listed equivalent counted as a survivor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

interface IgnorePlugin {
  name: string;
  value: { shouldIgnore(path: unknown): string | undefined };
}

test('the ignorer follows the group being run, not the first one it was imported for', async () => {
  const module = (await import(pathToFileURL(resolve('scripts/mutation/ignorers.mjs')).href)) as { strykerPlugins: IgnorePlugin[] };
  const equivalent = module.strykerPlugins.find((plugin) => plugin.name === 'hearth-equivalent')?.value;
  assert.ok(equivalent);
  const at = (line: number, column: number, type: string) => ({
    node: { type, loc: { start: { line, column } } },
    hub: { file: { opts: { filename: resolve('src/acme/example.ts') } } },
  });
  const before = process.env.HEARTH_MUTATE_EQUIVALENT;
  try {
    process.env.HEARTH_MUTATE_EQUIVALENT = '[]';
    assert.equal(equivalent.shouldIgnore(at(3, 6, 'BinaryExpression')), undefined);
    process.env.HEARTH_MUTATE_EQUIVALENT = JSON.stringify([
      { file: 'src/acme/example.ts', line: 3, column: 7, node: 'BinaryExpression', why: 'no test can tell' },
    ]);
    assert.equal(equivalent.shouldIgnore(at(3, 6, 'BinaryExpression')), 'equivalent: no test can tell');
    assert.equal(equivalent.shouldIgnore(at(3, 6, 'LogicalExpression')), undefined, 'another node type at the same place is not silenced');
    assert.equal(equivalent.shouldIgnore(at(3, 7, 'BinaryExpression')), undefined, 'columns are 1-based in the entries');
    process.env.HEARTH_MUTATE_EQUIVALENT = '[]';
    assert.equal(equivalent.shouldIgnore(at(3, 6, 'BinaryExpression')), undefined, 'the next group’s (empty) list is taken up too');
  } finally {
    if (before === undefined) delete process.env.HEARTH_MUTATE_EQUIVALENT;
    else process.env.HEARTH_MUTATE_EQUIVALENT = before;
  }
});
