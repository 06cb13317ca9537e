/**
 * Runs a snippet against a store in a separate Node process, to exercise what only other
 * processes can show: cross-process locking and surviving SIGKILL. The snippet sees `store`
 * (opened on `url`) and `print(line)`; the child's loader flags (tsx under the source suite,
 * none under the compiled one) are inherited, and the store module is located relative to this
 * file, which resolves the same way in test/ and in dist/test/.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';

const openStoreModule = new URL('../../src/store/open-store.js', import.meta.url).href;

export function spawnStoreProcess(url: string, snippet: string): ChildProcessWithoutNullStreams {
  const program = `
    const { openStore } = await import(${JSON.stringify(openStoreModule)});
    const store = await openStore({ url: ${JSON.stringify(url)} });
    const print = (line) => process.stdout.write(line + '\\n');
    ${snippet}
    await store.close();
  `;
  const loaderFlags = process.execArgv.filter((arg) => !arg.startsWith('--test'));
  return spawn(process.execPath, [...loaderFlags, '--input-type=module', '-e', program]);
}

/** Resolves with the child's stdout lines once it exits 0; rejects with its stderr otherwise. */
export function runStoreProcess(url: string, snippet: string): Promise<string[]> {
  const child = spawnStoreProcess(url, snippet);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(stdout.split('\n').filter((line) => line !== ''));
      else reject(new Error(`store child process exited with ${code}: ${stderr}`));
    });
  });
}
