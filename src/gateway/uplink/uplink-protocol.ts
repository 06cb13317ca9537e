/**
 * What the gateway's event loop and its uplink thread (uplink-worker.ts) say to each other. Device
 * messages travel in batches, one per turn of the event loop: their payloads packed into one
 * buffer that is transferred, not copied, and their other fields in parallel arrays.
 */
import type { UplinkQueueOptions } from './uplink-queue.js';

export interface UplinkWorkerData {
  path: string;
  queue: UplinkQueueOptions;
  sender: {
    controlPlaneUrl: string;
    rootPem: string;
    batchSize: number;
    batchBytes?: number;
    credentials: { key: string; cert: string };
  };
}

export interface EnqueueBatch {
  type: 'enqueue';
  batch: number;
  deviceIds: string[];
  topics: string[];
  qos: number[];
  publishedAt: number[];
  /** Where each message's payload ends in `payloads` (the next one starts there). */
  payloadEnds: number[];
  payloads: ArrayBuffer;
}

export type ToUplinkWorker = EnqueueBatch | { type: 'credentials'; key: string; cert: string } | { type: 'stop' };

/** `depth` and `dropped` are the queue's, as the thread saw them when it wrote the message. */
export type FromUplinkWorker =
  | { type: 'ready'; depth: number }
  | { type: 'failed'; error: string }
  | { type: 'committed'; batch: number; error: string | null; depth: number; dropped: number }
  | { type: 'sent'; count: number; stored: number; depth: number; dropped: number }
  | { type: 'rejected'; message: { id: string; deviceId: string; topic: string }; detail: string }
  | { type: 'state'; reachable: boolean; detail: string; depth: number }
  | { type: 'stopped' };
