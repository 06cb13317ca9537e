/**
 * The transparency log over HTTPS, public like any CT log: the signed checkpoint, the verifier key,
 * entries (one canonical JSON leaf per line, the exact bytes that were hashed), inclusion and
 * consistency proofs, and a certificate's leaf with its proof against the latest checkpoint.
 */
import type { FastifyInstance } from 'fastify';
import { BadRequestError, HearthError, NotFoundError } from '../../core/errors.js';
import type { CheckpointRecord, LogEntryRecord, Store } from '../../store/store.js';
import { canonicalSerialHex } from '../../pki/serial-number.js';
import { HASH_BYTES } from '../../ledger/merkle.js';
import type { Checkpointer } from '../../transparency/checkpointer.js';
import { consistencyProof, inclusionProof } from '../../transparency/log-proofs.js';

/** Entries per page: a million-leaf audit is a hundred requests. */
export const MAX_ENTRIES_PER_PAGE = 10_000;
/** How long a certificate's proof waits for the checkpoint that covers it. */
const CHECKPOINT_WAIT_MS = 3_000;

export interface TransparencyLogDeps {
  store: Store;
  checkpointer: Checkpointer;
  verifierKey: string;
}

const NEWLINE = Buffer.from('\n');
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

class NotYetCheckpointedError extends HearthError {
  constructor(detail: string) {
    super('not-yet-checkpointed', 503, 'Not yet in a checkpoint', detail);
  }
}

function leafHashParameter(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== HASH_BYTES || bytes.toString('base64') !== text) {
    throw new BadRequestError(`hash must be a ${HASH_BYTES}-byte leaf hash in standard base64`, 'invalid-hash');
  }
  return bytes;
}

function checkSize(size: number, current: number, what = 'size'): void {
  if (size > current) throw new BadRequestError(`${what} ${size} is beyond the tree (${current} entries)`, 'beyond-tree');
}

const integer = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const hashList = { type: 'array', items: { type: 'string', description: 'base64 SHA-256' } } as const;

export function registerTransparencyLogRoutes(app: FastifyInstance, deps: TransparencyLogDeps): void {
  const { store, checkpointer } = deps;

  app.get(
    '/log/checkpoint',
    { schema: { tags: ['log'], summary: 'Latest signed checkpoint (C2SP tlog-checkpoint in a signed note)' } },
    async (_request, reply) => {
      const checkpoint = await checkpointer.refresh();
      return reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-cache').send(checkpoint.note);
    },
  );

  app.get('/log/key', { schema: { tags: ['log'], summary: "The log's note verifier key: <origin>+<key id>+<Ed25519 key>" } }, async (_request, reply) => {
    return reply.header('content-type', 'text/plain; charset=utf-8').send(`${deps.verifierKey}\n`);
  });

  app.get<{ Querystring: { start: number; end: number } }>(
    '/log/entries',
    {
      schema: {
        tags: ['log'],
        summary: `Entries start <= index < end (at most ${MAX_ENTRIES_PER_PAGE}), one canonical JSON leaf per line`,
        querystring: { type: 'object', required: ['start', 'end'], properties: { start: integer, end: integer }, additionalProperties: false },
      },
    },
    async (request, reply) => {
      const { start, end } = request.query;
      if (end <= start) throw new BadRequestError(`end (${end}) must be greater than start (${start})`, 'invalid-range');
      const size = await store.log.logSize();
      if (start >= size) throw new BadRequestError(`start ${start} is beyond the tree (${size} entries)`, 'beyond-tree');
      const last = Math.min(end, size, start + MAX_ENTRIES_PER_PAGE);
      const leaves = await store.log.getLogLeaves(start, last);
      const body = Buffer.concat(leaves.flatMap((leaf) => [leaf, NEWLINE]));
      return reply.header('content-type', 'application/x-ndjson').header('hearth-log-start', String(start)).header('hearth-log-end', String(last)).send(body);
    },
  );

  app.get<{ Querystring: { index?: number; hash?: string; size: number } }>(
    '/log/proof/inclusion',
    {
      schema: {
        tags: ['log'],
        summary: 'RFC 9162 inclusion proof of a leaf (by index or leaf hash) in the tree of the given size',
        querystring: {
          type: 'object',
          required: ['size'],
          properties: { index: integer, hash: { type: 'string', maxLength: 64 }, size: { ...integer, minimum: 1 } },
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', properties: { index: { type: 'integer' }, size: { type: 'integer' }, leafHash: { type: 'string' }, hashes: hashList } },
        },
      },
    },
    async (request) => {
      const { size } = request.query;
      if ((request.query.index === undefined) === (request.query.hash === undefined))
        throw new BadRequestError('give exactly one of index and hash', 'invalid-request');
      checkSize(size, await store.log.logSize());
      let entry: LogEntryRecord | undefined;
      if (request.query.hash !== undefined) {
        entry = await store.log.findLogEntryByHash(leafHashParameter(request.query.hash));
        if (!entry) throw new NotFoundError('no leaf with that hash in the log');
      } else {
        [entry] = await store.log.getLogEntries(request.query.index as number, (request.query.index as number) + 1);
      }
      const index = entry ? entry.index : (request.query.index as number);
      if (index >= size || !entry) throw new BadRequestError(`leaf ${index} is not in the tree of size ${size}`, 'beyond-tree');
      return { index, size, leafHash: b64(entry.leafHash), hashes: (await inclusionProof(store, index, size)).map(b64) };
    },
  );

  app.get<{ Querystring: { from: number; to: number } }>(
    '/log/proof/consistency',
    {
      schema: {
        tags: ['log'],
        summary: 'RFC 9162 consistency proof between two tree sizes',
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          properties: { from: { ...integer, minimum: 1 }, to: { ...integer, minimum: 1 } },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { from: { type: 'integer' }, to: { type: 'integer' }, hashes: hashList } } },
      },
    },
    async (request) => {
      const { from, to } = request.query;
      if (from > to) throw new BadRequestError(`from (${from}) must not be greater than to (${to})`, 'invalid-range');
      checkSize(to, await store.log.logSize(), 'to');
      return { from, to, hashes: (await consistencyProof(store, from, to)).map(b64) };
    },
  );

  app.get<{ Params: { serial: string } }>(
    '/log/certificates/:serial',
    {
      schema: {
        tags: ['log'],
        summary: "A certificate's cert.issued leaf and its inclusion proof against the latest checkpoint",
        params: { type: 'object', properties: { serial: { type: 'string', pattern: '^[0-9a-fA-F]{1,40}$' } } },
      },
    },
    async (request) => {
      const serial = canonicalSerialHex(request.params.serial);
      const entry = await store.log.findIssuanceLogEntry(serial);
      if (!entry) throw new NotFoundError(`the log has no cert.issued entry for serial ${serial}`);
      const checkpoint = await checkpointCovering(checkpointer, entry.index);
      return {
        serial,
        index: entry.index,
        leaf: Buffer.from(entry.leaf).toString('utf8'),
        leafHash: b64(entry.leafHash),
        checkpoint: checkpoint.note,
        size: checkpoint.size,
        hashes: (await inclusionProof(store, entry.index, checkpoint.size)).map(b64),
      };
    },
  );
}

/** The latest checkpoint once it covers `index`; a fresh leaf waits for the next one (at most a second). */
async function checkpointCovering(checkpointer: Checkpointer, index: number): Promise<CheckpointRecord> {
  const deadline = Date.now() + CHECKPOINT_WAIT_MS;
  for (;;) {
    const checkpoint = await checkpointer.refresh();
    if (checkpoint.size > index) return checkpoint;
    if (Date.now() > deadline) throw new NotYetCheckpointedError(`leaf ${index} is not yet in a signed checkpoint; retry in a second`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
