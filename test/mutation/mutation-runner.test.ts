/**
 * `npm run mutate` itself: run on a fixture group whose test forgets one check (the home check of
 * test/mutation/fixture/door-lock.ts), StrykerJS must report that check's mutants as survivors, the
 * score must fall below the goal and the run must fail, and nothing is recorded as checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('a deleted check with no test to notice is reported as a survivor, and the run fails', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-mutate-'));
  try {
    const groups = join(dir, 'groups.mjs');
    writeFileSync(
      groups,
      `export const GOAL = 90;
export const GROUPS = { fixture: { summary: 'the mutation runner fixture', mutate: ['test/mutation/fixture/door-lock.ts'], tests: ['test/mutation/fixture/door-lock.test'], equivalent: [] } };
`,
    );
    const checked = join(dir, 'checked.json');
    const run = spawnSync(process.execPath, ['scripts/mutate.mjs', 'fixture', '--concurrency', '1'], {
      encoding: 'utf8',
      env: { ...process.env, HEARTH_MUTATE_GROUPS: groups, HEARTH_MUTATE_CHECKED: checked },
    });
    const out = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.status, 1, out);
    assert.match(out, /fixture: \d+(\.\d)?% \(\d+ killed, [1-9]\d* survived/);
    // The home check is on line 8: deleting it, or making its condition false, survives.
    assert.match(out, /survived: test\/mutation\/fixture\/door-lock\.ts:8:/);
    // The role check, which the fixture's test does exercise, is killed: no survivor on line 7 that
    // removes it.
    assert.doesNotMatch(out, /survived: test\/mutation\/fixture\/door-lock\.ts:7:\d+ ConditionalExpression → false/);
    assert.equal(existsSync(checked), false, 'a failing run records nothing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an equivalent entry that names no expression of its type at its place stops the run before any mutant, naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-mutate-'));
  try {
    const groups = join(dir, 'groups.mjs');
    writeFileSync(
      groups,
      `export const GOAL = 90;
export const GROUPS = { fixture: { summary: 'the mutation runner fixture', mutate: ['test/mutation/fixture/door-lock.ts'], tests: ['test/mutation/fixture/door-lock.test'],
  equivalent: [{ file: 'test/mutation/fixture/door-lock.ts', line: 8, column: 3, node: 'WhileStatement', why: 'moved away' }] } };
`,
    );
    const run = spawnSync(process.execPath, ['scripts/mutate.mjs', 'fixture'], {
      encoding: 'utf8',
      env: { ...process.env, HEARTH_MUTATE_GROUPS: groups, HEARTH_MUTATE_CHECKED: join(dir, 'checked.json') },
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(
      run.stderr,
      /fixture: these equivalent entries name no expression of that type any more \(the code moved\?\):\n {2}test\/mutation\/fixture\/door-lock\.ts:8:3 WhileStatement/,
    );
    const both = spawnSync(process.execPath, ['scripts/mutate.mjs', 'fixture', '--sample', '0.5', '--max-mutants', '10'], {
      encoding: 'utf8',
      env: { ...process.env, HEARTH_MUTATE_GROUPS: groups },
    });
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--sample and --max-mutants both choose the sample; give one of them/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
