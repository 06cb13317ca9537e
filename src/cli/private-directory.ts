/**
 * A data directory (the control plane's or a gateway's) holds private keys, the database with its
 * tokens and binding records, and the gateway's queued messages: it must be the owner's alone.
 * The servers refuse to start on one that group or others can enter, or on a secret file in it
 * that they can read or write, and name the command that fixes it. Installations made before
 * Hearth created these 0700/0600 take that command once as their upgrade step.
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';

/** A group/other bit on a directory lets others list or enter it; on a file, read or write it. */
const DIRECTORY_EXPOSURE = 0o077;
const FILE_EXPOSURE = 0o066;

/** SQLite databases with their WAL, shared memory and rollback journal. */
const DATABASE_FILE = /\.db(-wal|-shm|-journal)?$/;
/** Directories whose every file is a secret: keys, passphrases, identities, sensor keys. */
const SECRET_DIRECTORIES = new Set(['private', 'identity', 'sensors']);

export interface ExposedEntry {
  path: string;
  mode: number;
  kind: 'directory' | 'file';
}

function ifPresent<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

function isSecretFile(root: string, path: string): boolean {
  if (DATABASE_FILE.test(basename(path))) return true;
  return relative(root, path)
    .split(sep)
    .slice(0, -1)
    .some((part) => SECRET_DIRECTORIES.has(part));
}

/** Directories others can enter and secret files they can read or write, under `root` (itself included). */
export function exposedEntries(root: string): ExposedEntry[] {
  const exposed: ExposedEntry[] = [];
  const visit = (path: string) => {
    // lstat: a symbolic link is not followed out of the directory, and its own mode means nothing.
    // An entry gone meanwhile (a WAL another process checkpointed away) exposes nothing.
    const stats = ifPresent(() => lstatSync(path));
    if (stats === undefined) return;
    const mode = stats.mode & 0o777;
    if (stats.isDirectory()) {
      if ((mode & DIRECTORY_EXPOSURE) !== 0) exposed.push({ path, mode, kind: 'directory' });
      for (const entry of ifPresent(() => readdirSync(path)) ?? []) visit(join(path, entry));
    } else if (stats.isFile() && isSecretFile(root, path) && (mode & FILE_EXPOSURE) !== 0) {
      exposed.push({ path, mode, kind: 'file' });
    }
  };
  visit(root);
  return exposed;
}

/** Shell-quotes a path for the fix command, so it can be pasted as printed. */
function shellQuoted(path: string): string {
  return /^[A-Za-z0-9_./+-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

export class ExposedDataDirectoryError extends Error {
  constructor(
    readonly dir: string,
    readonly exposed: readonly ExposedEntry[],
    command: string,
  ) {
    const first = exposed[0] as ExposedEntry;
    const octal = first.mode.toString(8).padStart(4, '0');
    const more = exposed.length > 1 ? ` (and ${exposed.length - 1} more)` : '';
    super(
      `${command} refuses to start: ${first.path} is a ${first.kind} that group or others can ${first.kind === 'directory' ? 'enter' : 'read or write'} (mode ${octal})${more}; ` +
        `${dir} holds private keys and secrets. Fix it with: chmod -R go-rwx ${shellQuoted(dir)}`,
    );
    this.name = 'ExposedDataDirectoryError';
  }
}

/** Refuses a data directory that is not its owner's alone; one that does not exist yet passes. */
export function assertPrivateDataDirectory(dir: string, command: string): void {
  if (!existsSync(dir)) return;
  const exposed = exposedEntries(dir);
  if (exposed.length > 0) throw new ExposedDataDirectoryError(dir, exposed, command);
}
