/**
 * How the uplink queue keeps messages in SQLite: one row per group commit, holding that commit's
 * messages column by column (texts and times as JSON arrays, QoS as one byte each, payloads
 * end to end in one blob), instead of one row per message. A commit of a busy home's hundred
 * messages is then one insert: about a tenth of the CPU of a hundred, and the event loop, which
 * waits for the commit before its PUBACKs, is held up that much less.
 *
 * Messages are numbered (seq) one after another across rows; a row holds seqs first_seq to
 * first_seq + count - 1. Its id column is set only for messages carried over from the earlier
 * one-row-per-message table, whose ids must not change (the control plane may have some already).
 */
import type { QueuedMessage, UplinkMessage } from './uplink-queue.js';

export const BATCH_TABLE = `CREATE TABLE IF NOT EXISTS uplink_batches (
  first_seq INTEGER PRIMARY KEY,
  count INTEGER NOT NULL,
  device_ids TEXT NOT NULL,
  topics TEXT NOT NULL,
  qos BLOB NOT NULL,
  published_at TEXT NOT NULL,
  payload_ends TEXT NOT NULL,
  payloads BLOB NOT NULL,
  ids TEXT
)`;

/** Every row, oldest first: what the queue and its reader decode (decodeBatches). */
export const SELECT_BATCHES = 'SELECT * FROM uplink_batches ORDER BY first_seq';

export interface BatchRow {
  first_seq: number;
  count: number;
  device_ids: string;
  topics: string;
  qos: Uint8Array;
  published_at: string;
  payload_ends: string;
  payloads: Uint8Array;
  ids: string | null;
}

/** The row's values in BATCH_TABLE's column order. */
export function encodeBatch(firstSeq: number, messages: readonly (Omit<UplinkMessage, 'id'> & { id?: string })[]): unknown[] {
  let bytes = 0;
  for (const m of messages) {
    // JSON would take anything; the row must hold only what a message is.
    if (typeof m.deviceId !== 'string' || typeof m.topic !== 'string') throw new TypeError('an uplink message needs a deviceId and a topic that are strings');
    if (!(m.payload instanceof Uint8Array)) throw new TypeError('an uplink message payload must be bytes');
    if (!(m.qos === 0 || m.qos === 1 || m.qos === 2) || !Number.isFinite(m.publishedAt))
      throw new TypeError('an uplink message needs a QoS of 0, 1 or 2 and a publishedAt time');
    bytes += m.payload.length;
  }
  const payloads = Buffer.allocUnsafe(bytes);
  const qos = Buffer.allocUnsafe(messages.length);
  const ends: number[] = [];
  let offset = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Omit<UplinkMessage, 'id'>;
    offset += m.payload.copy(payloads, offset);
    ends.push(offset);
    qos[i] = m.qos;
  }
  const ids = messages.some((m) => m.id !== undefined) ? JSON.stringify(messages.map((m) => m.id)) : null;
  return [
    firstSeq,
    messages.length,
    JSON.stringify(messages.map((m) => m.deviceId)),
    JSON.stringify(messages.map((m) => m.topic)),
    qos,
    JSON.stringify(messages.map((m) => m.publishedAt)),
    JSON.stringify(ends),
    payloads,
    ids,
  ];
}

/**
 * The messages of the rows `rows()` yields (in first_seq order) after `floor` and up to `ceiling`,
 * without the `skipped` ones, at most `limit` of them. `idFor` names a message that has no id of
 * its own.
 */
export function decodeBatches(
  rows: () => Iterable<BatchRow>,
  floor: number,
  ceiling: number,
  skipped: ReadonlySet<number>,
  limit: number,
  idFor: (seq: number) => string,
): QueuedMessage[] {
  const found: QueuedMessage[] = [];
  // The rows are a live query: it is not started at all for nothing.
  if (limit <= 0) return found;
  for (const row of rows()) {
    if (row.first_seq > ceiling) return found;
    if (row.first_seq + row.count - 1 <= floor) continue;
    const deviceIds = JSON.parse(row.device_ids) as string[];
    const topics = JSON.parse(row.topics) as string[];
    const publishedAt = JSON.parse(row.published_at) as number[];
    const ends = JSON.parse(row.payload_ends) as number[];
    const ids = row.ids === null ? undefined : (JSON.parse(row.ids) as (string | null)[]);
    const payloads = Buffer.from(row.payloads.buffer, row.payloads.byteOffset, row.payloads.byteLength);
    for (let i = 0; i < row.count; i++) {
      const seq = row.first_seq + i;
      if (seq > ceiling) return found;
      if (seq <= floor || skipped.has(seq)) continue;
      const start = i === 0 ? 0 : (ends[i - 1] as number);
      found.push({
        seq,
        id: ids?.[i] ?? idFor(seq),
        deviceId: deviceIds[i] as string,
        topic: topics[i] as string,
        payload: payloads.subarray(start, ends[i]),
        qos: row.qos[i] as number,
        publishedAt: publishedAt[i] as number,
      });
      if (found.length === limit) return found;
    }
  }
  return found;
}

/** The id of a message from its queue file's identifier and its seq (fixed width, so ids sort as seqs do). */
export function messageId(instance: string, seq: number): string {
  return `${instance}-${seq.toString(16).padStart(12, '0')}`;
}
