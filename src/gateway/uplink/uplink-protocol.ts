/**
 * What the gateway's event loop, which owns the uplink queue, and the uplink's sender thread
 * (uplink-sender-thread.ts) say to each other.
 */

export interface SenderThreadData {
  /** The queue file, opened read-only by the thread. */
  path: string;
  /** Where the thread starts reading: every message through this seq is acknowledged. */
  acknowledged: number;
  /** Messages through this seq are on disk for good; the thread reads nothing above it. */
  synced: number;
  /** Messages above `acknowledged` discarded as invalid: not sent again. */
  discards: number[];
  controlPlaneUrl: string;
  rootPem: string;
  batchSize: number;
  batchBytes?: number;
  credentials: { key: string; cert: string };
}

export type ToSenderThread = { type: 'committed'; synced: number } | { type: 'credentials'; key: string; cert: string } | { type: 'stop' };

export type FromSenderThread =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'acknowledge'; seq: number }
  | { type: 'discard'; seq: number }
  | { type: 'sent'; count: number; stored: number }
  | { type: 'rejected'; message: { id: string; deviceId: string; topic: string }; detail: string }
  | { type: 'state'; reachable: boolean; detail: string };
