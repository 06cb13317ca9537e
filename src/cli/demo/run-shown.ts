/** Shown commands in `hearth demo`: printed with a `$`, run, and the first lines of their output indented. */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

/** Runs a shown command without blocking: the servers it talks to live in this process. Resolves to whether it exited 0. */
export async function runShown(command: string, cwd: string, maxLines = 8): Promise<boolean> {
  console.log(`$ ${command}`);
  const result = await promisify(execFile)('bash', ['-c', command], { cwd, encoding: 'utf8' }).then(
    (done) => ({ ...done, ok: true }),
    (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '', ok: false }),
  );
  const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(0, maxLines);
  for (const line of output) console.log(`  ${line}`);
  return result.ok;
}

/** Whether a program is on PATH. */
export function haveCommand(name: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}
