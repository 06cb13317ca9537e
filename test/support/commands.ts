/**
 * Outside programs in tests (certbot, lego): gated the way environment.ts gates services (with
 * CI=true a missing program fails, elsewhere the test is skipped with one line saying why), run
 * with a timeout and bounded output, and described in full when they fail.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { inCi } from './environment.js';

/** The absolute path of an executable named `name` on PATH, without running it. */
export function findCommand(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; PATH lookup goes on to the next directory.
    }
  }
  return undefined;
}

/** Where bin/hearth finds tcmalloc (libtcmalloc-minimal4), if it is installed. */
export function installedTcmalloc(): string | undefined {
  const multiarch = readdirSync('/usr/lib')
    .filter((d) => d.includes('-linux-gnu'))
    .map((d) => join('/usr/lib', d));
  for (const dir of [...multiarch, '/usr/lib64', '/usr/lib', '/usr/local/lib']) {
    const candidate = join(dir, 'libtcmalloc_minimal.so.4');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Undefined when `name` is on PATH; otherwise a skip reason (outside CI) or a throw (in CI). Use
 * as `{ skip: needsCommand('certbot', 'apt-get install certbot') }` in node:test options.
 */
export function needsCommand(name: string, install: string): string | undefined {
  if (findCommand(name) !== undefined) return undefined;
  const reason = `${name} not available (not on PATH; ${install})`;
  if (inCi) throw new Error(`CI=true but ${reason}; .ci/run must provide it`);
  console.log(`# skipped: tests needing ${reason}`);
  return reason;
}

export interface CommandResult {
  /** Exit status; null when the command was killed (timeout) or could not start. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Why it did not run to an exit status, if it did not (spawn error, timeout). */
  error?: string;
}

/** Output kept per stream: enough for a failure message, bounded against a runaway client. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * Runs a program without a shell, closed stdin, and a hard timeout (SIGKILL, so a client stuck
 * on a port cannot outlive the test). Never rejects: the caller asserts on the result and can
 * put all of it in the failure message.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<CommandResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      file,
      args,
      { env: options.env, cwd: options.cwd, timeout: options.timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: unknown; killed?: boolean }) | null;
        const code = child.exitCode;
        const signal = child.signalCode;
        let reason: string | undefined;
        if (failure && typeof failure.code === 'string') reason = `${file} could not run: ${failure.message}`;
        else if (failure?.killed) reason = `${file} was killed after ${options.timeoutMs} ms`;
        resolvePromise({ code, signal, stdout, stderr, ...(reason ? { error: reason } : {}) });
      },
    );
    child.stdin?.end();
  });
}

/** The tail of a text: failure messages stay readable when a client logs a lot. */
export function tail(text: string, chars = 12_000): string {
  return text.length <= chars ? text : `[... ${text.length - chars} characters before]\n${text.slice(-chars)}`;
}

/** One readable block for an assertion message: the command line, its status, its output and any log it wrote. */
export function describeRun(file: string, args: readonly string[], result: CommandResult, log?: { name: string; text: string }): string {
  return [
    `$ ${[file, ...args].join(' ')}`,
    `exit ${result.code ?? 'none'}${result.signal ? ` (signal ${result.signal})` : ''}${result.error ? `: ${result.error}` : ''}`,
    `--- stdout\n${tail(result.stdout)}`,
    `--- stderr\n${tail(result.stderr)}`,
    ...(log ? [`--- ${log.name}\n${tail(log.text)}`] : []),
  ].join('\n');
}

/**
 * A loopback TCP port nothing listens on right now, for a client's challenge listener. The
 * client binds it moments later; a collision in between fails the test loudly, never silently.
 */
export async function freeLoopbackPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolvePromise, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolvePromise);
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolvePromise) => probe.close(() => resolvePromise()));
  return port;
}
