/**
 * Files holding sensor secrets (pairing keys, the token signing key). They are readable by their
 * owner only and replaced all or nothing, so a crash mid-write never leaves a half-written key
 * file that would lock every sensor out.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A sensor state file that cannot be read, has unsafe permissions or does not validate. */
export class SensorStateFileError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'SensorStateFileError';
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** Reads an owner-only file; undefined when it does not exist. */
export async function readOwnerOnlyFile(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw new SensorStateFileError(path, `cannot open: ${errorCode(error) ?? String(error)}`);
  }
  try {
    // Checking the opened handle, not the path, leaves no window to swap the file in between.
    const stats = await handle.stat();
    if (!stats.isFile()) throw new SensorStateFileError(path, 'not a regular file');
    const mode = stats.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      // Another local account may already have copied the secrets; refusing makes that visible.
      throw new SensorStateFileError(path, `accessible by group/other (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${path}`);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

async function writeTemporarySibling(path: string, contents: string): Promise<string> {
  const directory = dirname(path);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const temporary = join(directory, `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    // The umask can only remove bits; the chmod makes the mode independent of it.
    await handle.chmod(0o600);
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temporary;
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path` with `contents` atomically (temporary file, fsync, rename, directory fsync). */
export async function replaceOwnerOnlyFile(path: string, contents: string): Promise<void> {
  let temporary: string | undefined;
  try {
    temporary = await writeTemporarySibling(path, contents);
    await rename(temporary, path);
    temporary = undefined;
    await syncDirectory(dirname(path));
  } catch (error) {
    throw new SensorStateFileError(path, `cannot write: ${errorCode(error) ?? String(error)}`);
  } finally {
    if (temporary !== undefined) await unlink(temporary).catch(() => undefined);
  }
}

/**
 * Creates `path` atomically unless it exists; false when it already did. link() stands in for
 * rename() because it refuses to replace, so two processes creating the file at once cannot
 * overwrite each other's key.
 */
export async function createOwnerOnlyFile(path: string, contents: string): Promise<boolean> {
  let temporary: string | undefined;
  try {
    temporary = await writeTemporarySibling(path, contents);
    await link(temporary, path);
    await syncDirectory(dirname(path));
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw new SensorStateFileError(path, `cannot create: ${errorCode(error) ?? String(error)}`);
  } finally {
    if (temporary !== undefined) await unlink(temporary).catch(() => undefined);
  }
}

/** One line per zod issue, with the path into the document, for errors that name the file. */
export function describeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`).join('; ');
}
