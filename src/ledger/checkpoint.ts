/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text that commits a log to a
 * tree size and root hash. Three lines: origin, decimal size, base64 root; extension lines may follow.
 */
import { HASH_BYTES, type Hash } from './merkle.js';
import { NoteError, strictBase64 } from './signed-note.js';

export interface Checkpoint {
  /** The log's unique name; Hearth's is a schema-less URL. */
  origin: string;
  size: number;
  root: Hash;
  extensions: string[];
}

export function formatCheckpoint(checkpoint: Checkpoint): string {
  if (!isValidOrigin(checkpoint.origin)) throw new NoteError(`"${checkpoint.origin}" is not a valid log origin`);
  if (!Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0) throw new NoteError(`tree size ${checkpoint.size} is not a non-negative integer`);
  if (checkpoint.root.length !== HASH_BYTES) throw new NoteError(`a root hash is ${HASH_BYTES} bytes`);
  if (checkpoint.extensions.some((line) => line.length === 0 || line.includes('\n'))) throw new NoteError('extension lines are non-empty single lines');
  return [checkpoint.origin, String(checkpoint.size), Buffer.from(checkpoint.root).toString('base64'), ...checkpoint.extensions].join('\n') + '\n';
}

export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new NoteError('a checkpoint ends with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new NoteError('a checkpoint has an origin, a tree size and a root hash line');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!isValidOrigin(origin)) throw new NoteError(`"${origin}" is not a valid log origin`);
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new NoteError(`tree size "${sizeText}" is not a decimal number without leading zeros`);
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new NoteError(`tree size ${sizeText} is too large`);
  const root = strictBase64(rootText, 'root hash');
  if (root.length !== HASH_BYTES) throw new NoteError(`the root hash is ${root.length} bytes, not ${HASH_BYTES}`);
  if (extensions.some((line) => line.length === 0)) throw new NoteError('a checkpoint has no empty lines');
  return { origin, size, root: new Uint8Array(root), extensions };
}

/**
 * Any non-empty line: the origin SHOULD be a schema-less URL, and Hearth's are, but clients must
 * not assume it (the Go checksum database's is "go.sum database tree").
 */
function isValidOrigin(origin: string): boolean {
  return origin.length > 0 && !origin.includes('\n');
}
