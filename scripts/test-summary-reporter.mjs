// A node:test reporter for `npm test`: quiet while the tests run (a failing file is named as soon
// as it finishes; on a terminal, one progress line), then a summary: files, tests, passed, failed,
// skipped, duration, the reasons tests were skipped, and for every failure the test's name, file
// and error. A file that fails outside any test (it would not load, a hook threw) shows the end of
// its stderr. scripts/run-tests.mjs uses it unless asked for TAP (--tap, HEARTH_TEST_REPORTER=tap).
import { relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const STDERR_KEPT = 4096;
const ERROR_LINES = 25;

const where = (file) => (file ? relative(process.cwd(), file) : '(unknown file)');

function errorText(error) {
  if (!error) return '';
  // The runner wraps what the test threw; the cause is what the author wrote.
  const cause = error.code === 'ERR_TEST_FAILURE' && error.cause ? error.cause : error;
  const text = cause instanceof Error ? (cause.stack ?? `${cause.name}: ${cause.message}`) : String(cause);
  // Frames inside Node's test runner say nothing about the test.
  const lines = text.split('\n').filter((line) => !/^\s+at (.*\()?(node:|<anonymous>\))/.test(line));
  return (lines.length > ERROR_LINES ? [...lines.slice(0, ERROR_LINES), `… ${lines.length - ERROR_LINES} more lines`] : lines).join('\n');
}

const indent = (text, by = '    ') => text.replace(/^/gm, by);

export default async function* summary(source) {
  const started = performance.now();
  const tty = Boolean(process.stdout.isTTY);
  const files = new Set();
  const finishedFiles = new Set();
  const failures = [];
  const fileFailures = [];
  const skipReasons = new Map();
  const stderr = new Map();
  const failedIn = new Map();
  let tests = 0;
  let passed = 0;
  let skipped = 0;
  let todo = 0;

  for await (const event of source) {
    const data = event.data ?? {};
    // A file's own test is named by its path: absolute on Node 20, relative to the working directory on Node 24.
    const isFile = data.file !== undefined && typeof data.name === 'string' && (data.name === data.file || resolve(data.name) === data.file);
    switch (event.type) {
      case 'test:enqueue':
        if (isFile) files.add(data.file);
        break;
      case 'test:stderr':
        if (data.file) stderr.set(data.file, `${stderr.get(data.file) ?? ''}${data.message}`.slice(-STDERR_KEPT));
        break;
      case 'test:complete':
        // A file's own outcome comes as test:complete (its test:pass/test:fail is not always sent).
        if (isFile && !finishedFiles.has(data.file)) {
          finishedFiles.add(data.file);
          if (data.details?.passed === false || data.details?.error) {
            const inTests = failedIn.get(data.file) ?? 0;
            if (inTests === 0) fileFailures.push({ file: data.file, error: data.details?.error, stderr: stderr.get(data.file) ?? '' });
            if (!tty) yield `✗ ${where(data.file)}: ${inTests > 0 ? `${inTests} failed` : 'failed outside its tests'}\n`;
          }
          stderr.delete(data.file);
          if (tty) yield `\r\x1b[K${finishedFiles.size}/${files.size} files, ${tests} tests, ${failures.length} failed`;
        }
        break;
      case 'test:pass':
      case 'test:fail': {
        if (isFile) break;
        if (data.details?.type === 'suite') {
          // A suite fails when a test in it did (counted there) or its own hook threw (counted here).
          if (event.type === 'test:fail' && data.details?.error?.failureType !== 'subtestsFailed') {
            failures.push({ name: data.name, file: data.file, line: data.line, error: data.details?.error });
            failedIn.set(data.file, (failedIn.get(data.file) ?? 0) + 1);
          }
          break;
        }
        tests++;
        if (data.skip !== undefined) {
          skipped++;
          const reason = typeof data.skip === 'string' ? data.skip : '(no reason given)';
          skipReasons.set(reason, (skipReasons.get(reason) ?? 0) + 1);
        } else if (data.todo !== undefined) todo++;
        else if (event.type === 'test:pass') passed++;
        else {
          failures.push({ name: data.name, file: data.file, line: data.line, error: data.details?.error });
          failedIn.set(data.file, (failedIn.get(data.file) ?? 0) + 1);
        }
        break;
      }
      default:
        break;
    }
  }

  const out = [];
  if (tty) out.push('\r\x1b[K');
  if (skipReasons.size > 0) {
    out.push('skipped:\n');
    for (const [reason, count] of [...skipReasons].sort((a, b) => b[1] - a[1])) out.push(`  ${count} × ${reason}\n`);
  }
  if (failures.length > 0 || fileFailures.length > 0) out.push('\nFAILED\n');
  for (const failure of failures) {
    out.push(`\n✗ ${failure.name}\n  ${where(failure.file)}${failure.line ? `:${failure.line}` : ''}\n${indent(errorText(failure.error))}\n`);
  }
  for (const failure of fileFailures) {
    out.push(`\n✗ ${where(failure.file)} failed outside its tests: ${failure.error?.message ?? 'see its stderr'}\n`);
    if (failure.stderr.trim()) out.push(`  stderr (end):\n${indent(failure.stderr.trimEnd())}\n`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const failed = failures.length + fileFailures.length;
  out.push(`\nfiles ${files.size}, tests ${tests}: passed ${passed}, failed ${failed}, skipped ${skipped}${todo ? `, todo ${todo}` : ''} (${seconds} s)\n`);
  yield out.join('');
}
