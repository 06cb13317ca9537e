// `npm run mutate -- <group> [--sample F] [--seed N] [--concurrency C]`: mutation testing of one
// group of security-critical modules (scripts/mutation/groups.mjs) with StrykerJS, against the
// tests that exercise them. Prints the score and every surviving mutant, writes the HTML report to
// reports/mutation/<group>.html, and exits 1 below the goal. `--list` names the groups;
// `--changed` runs the groups whose files changed since their last passing run (recorded in
// scripts/mutation/checked.json by a full, unsampled run that met the goal).
//
// Mutants are switched on by Stryker's environment variable, so a mutant is live in the servers an
// integration test starts, not only in the test process. String literals are not mutated, nor log
// calls (scripts/mutation/ignorers.mjs); `--sample F` keeps a seeded fraction F of each file's
// lines (mutants spanning several lines are then left out), for a bounded run. `--max-mutants N`
// samples each group whose last full run counted more than N mutants down to about N (CI uses it
// with --changed, so a change is checked in bounded time).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

// HEARTH_MUTATE_GROUPS names another groups module (the runner's own test uses a fixture group).
const { GOAL, GROUPS } = await import(
  process.env.HEARTH_MUTATE_GROUPS ? pathToFileURL(resolve(process.env.HEARTH_MUTATE_GROUPS)).href : './mutation/groups.mjs'
);
const CHECKED = process.env.HEARTH_MUTATE_CHECKED ?? 'scripts/mutation/checked.json';
// Started from inside a test (the runner's own), the tests Stryker runs must not think they are a
// child of that test run: with NODE_TEST_CONTEXT set, `node --test` reports to its parent and
// exits 0 though a test failed, and every mutant would survive.
delete process.env.NODE_TEST_CONTEXT;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    list: { type: 'boolean', default: false },
    changed: { type: 'boolean', default: false },
    sample: { type: 'string' },
    'max-mutants': { type: 'string' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function usage(code) {
  console.log(`usage: npm run mutate -- <group> [--sample F | --max-mutants N] [--seed N] [--concurrency C]
       npm run mutate -- --changed [--sample F | --max-mutants N] [--seed N]
       npm run mutate -- --list
groups: ${Object.keys(GROUPS).join(', ')}; goal: ${GOAL}% each`);
  process.exit(code);
}

if (values.help) usage(0);
if (values.list) {
  for (const [name, group] of Object.entries(GROUPS)) console.log(`${name.padEnd(12)} ${group.summary}\n${''.padEnd(12)} mutates ${group.mutate.join(', ')}`);
  process.exit(0);
}
const sample = values.sample === undefined ? undefined : Number(values.sample);
if (sample !== undefined && !(sample > 0 && sample <= 1)) {
  console.error(`--sample must be a fraction in (0, 1], not "${values.sample}"`);
  process.exit(2);
}
const maxMutants = values['max-mutants'] === undefined ? undefined : Number(values['max-mutants']);
if (maxMutants !== undefined && !(Number.isInteger(maxMutants) && maxMutants > 0)) {
  console.error(`--max-mutants must be a whole number above 0, not "${values['max-mutants']}"`);
  process.exit(2);
}
if (maxMutants !== undefined && sample !== undefined) {
  console.error('--sample and --max-mutants both choose the sample; give one of them');
  process.exit(2);
}
const seed = Number(values.seed);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(seed) || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error('--seed and --concurrency must be whole numbers (concurrency at least 1)');
  process.exit(2);
}

/** The files a group's patterns name: a plain path, or a directory followed by *.ts. */
function expand(pattern) {
  if (!pattern.includes('*')) return [pattern];
  const dir = pattern.slice(0, pattern.lastIndexOf('/'));
  const suffix = pattern.slice(pattern.lastIndexOf('*') + 1);
  return readdirSync(dir)
    .filter((name) => name.endsWith(suffix))
    .map((name) => `${dir}/${name}`)
    .sort();
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** What a group's result depends on: its sources and the test files its filters select. */
function fingerprint(group) {
  const tests = walk('test').filter((file) => file.endsWith('.ts') && group.tests.some((filter) => file.includes(filter)));
  const hash = createHash('sha256');
  for (const file of [...group.mutate.flatMap(expand), ...tests].sort()) hash.update(file).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

function readChecked() {
  return existsSync(CHECKED) ? JSON.parse(readFileSync(CHECKED, 'utf8')) : {};
}

/** A seeded choice of a fraction `sample` of each file's lines, as Stryker's `file:line-line` ranges. */
function sampledRanges(files, sample) {
  let state = seed >>> 0 || 1;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return files.flatMap((file) => {
    const lines = readFileSync(file, 'utf8').split('\n').length;
    const ranges = [];
    for (let line = 1; line <= lines; line++) if (random() < sample) ranges.push(`${file}:${line}-${line}`);
    return ranges;
  });
}

/**
 * The fraction of lines to mutate: --sample, or what --max-mutants allows given the group's last
 * full count (a group never run in full is counted at one mutant per line, about what Stryker
 * makes of this code); undefined for all.
 */
function sampleFor(name, files) {
  if (sample !== undefined || maxMutants === undefined) return sample;
  const expected = readChecked()[name]?.mutants ?? files.reduce((lines, file) => lines + readFileSync(file, 'utf8').split('\n').length, 0);
  return expected > maxMutants ? Number((maxMutants / expected).toFixed(3)) : undefined;
}

/** Whether a syntax node of `type` starts at line:column (1-based) of `file`. */
async function expressionAt(file, line, column, type) {
  const { parse } = await import('@babel/parser');
  const ast = parse(readFileSync(file, 'utf8'), { sourceType: 'module', plugins: ['typescript'] });
  const stack = [ast.program];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node.loc?.start.line === line && node.loc.start.column + 1 === column && node.type === type) return true;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'loc' || key === 'leadingComments' || key === 'trailingComments') continue;
      for (const child of Array.isArray(value) ? value : [value]) if (child && typeof child.type === 'string') stack.push(child);
    }
  }
  return false;
}

/** Equivalent entries are kept by line and column: one the code moved away from must be fixed, not silently ignored. */
async function checkEquivalents(name, group) {
  const stale = [];
  for (const e of group.equivalent) if (!(await expressionAt(e.file, e.line, e.column, e.node))) stale.push(`${e.file}:${e.line}:${e.column} ${e.node}`);
  if (stale.length > 0) {
    console.error(`${name}: these equivalent entries name no expression of that type any more (the code moved?):\n  ${stale.join('\n  ')}`);
    process.exit(2);
  }
}

async function run(name) {
  const group = GROUPS[name];
  await checkEquivalents(name, group);
  const files = group.mutate.flatMap(expand);
  const sample = sampleFor(name, files);
  const { Stryker } = await import('@stryker-mutator/core');
  process.env.HEARTH_MUTATE_EQUIVALENT = JSON.stringify(group.equivalent);
  console.log(`== mutation testing ${name}: ${group.summary}${sample ? ` (sampled: ${sample} of the lines, seed ${seed})` : ''}`);
  const stryker = new Stryker({
    testRunner: 'command',
    commandRunner: { command: `node scripts/run-tests.mjs ${group.tests.join(' ')}` },
    buildCommand: 'npx tsc -p tsconfig.json',
    mutate: sample ? sampledRanges(files, sample) : files,
    plugins: ['@stryker-mutator/*', resolve('scripts/mutation/ignorers.mjs')],
    ignorers: ['hearth-log-messages', 'hearth-equivalent'],
    mutator: { excludedMutations: ['StringLiteral'] },
    coverageAnalysis: 'off',
    concurrency,
    timeoutMS: 30_000,
    dryRunTimeoutMinutes: 20,
    disableTypeChecks: '{src,test,bench}/**/*.ts',
    ignorePatterns: ['dist', '.cache', '.scratch', '.hearth', 'reports'],
    tempDirName: '.stryker-tmp',
    cleanTempDir: 'always',
    reporters: ['html', 'json', 'progress'],
    htmlReporter: { fileName: `reports/mutation/${name}.html` },
    jsonReporter: { fileName: `reports/mutation/${name}.json` },
    fileLogLevel: 'off',
    logLevel: 'warn',
  });
  const results = await stryker.runMutationTest();
  const count = (status) => results.filter((r) => r.status === status).length;
  const killed = count('Killed') + count('Timeout');
  const survivors = results.filter((r) => r.status === 'Survived' || r.status === 'NoCoverage');
  const scored = killed + survivors.length;
  const score = scored === 0 ? 100 : (100 * killed) / scored;
  console.log(
    `\n${name}: ${score.toFixed(1)}% (${killed} killed, ${survivors.length} survived, ${count('Ignored')} ignored, ${count('RuntimeError') + count('CompileError')} errors) — goal ${GOAL}%`,
  );
  for (const s of survivors.sort((a, b) => a.fileName.localeCompare(b.fileName) || a.location.start.line - b.location.start.line)) {
    console.log(
      `  survived: ${relative(process.cwd(), s.fileName)}:${s.location.start.line}:${s.location.start.column} ${s.mutatorName}${s.replacement ? ` → ${s.replacement.replace(/\s+/g, ' ').slice(0, 100)}` : ''}`,
    );
  }
  console.log(`report: reports/mutation/${name}.html${survivors.length > 0 ? ' (a survivor is file:line:column, 1-based, and the mutator)' : ''}`);
  const passed = score >= GOAL;
  if (passed && !sample) {
    const checked = readChecked();
    checked[name] = { fingerprint: fingerprint(group), score: Number(score.toFixed(1)), mutants: scored };
    writeFileSync(CHECKED, `${JSON.stringify(checked, null, 2)}\n`);
  }
  return passed;
}

let names;
if (values.changed) {
  const checked = readChecked();
  names = Object.keys(GROUPS).filter((name) => checked[name]?.fingerprint !== fingerprint(GROUPS[name]));
  console.log(
    names.length === 0
      ? 'mutation testing: no group changed since its last passing run'
      : `mutation testing: changed since their last passing run: ${names.join(', ')}`,
  );
} else {
  if (positionals.length !== 1) usage(2);
  if (!GROUPS[positionals[0]]) {
    console.error(`no mutation group "${positionals[0]}"; the groups are ${Object.keys(GROUPS).join(', ')}`);
    process.exit(2);
  }
  names = positionals;
}
let failed = false;
for (const name of names) if (!(await run(name))) failed = true;
process.exit(failed ? 1 : 0);
