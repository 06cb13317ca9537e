/**
 * The uplink's sender thread: reads batches from the queue file through its own connection and
 * sends them to the control plane (uplink-sender.ts), so that the reads, the request bodies and
 * the HTTPS traffic of a busy home run beside the broker's event loop instead of on it. What the
 * control plane stored goes back to the event loop, which owns the queue and deletes it there.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromSenderThread, SenderThreadData, ToSenderThread } from './uplink-protocol.js';
import { UplinkQueueReader } from './uplink-queue-reader.js';
import { UplinkSender } from './uplink-sender.js';

const data = workerData as SenderThreadData;
const post = (message: FromSenderThread) => parentPort?.postMessage(message);

let reader: UplinkQueueReader | undefined;
try {
  reader = new UplinkQueueReader(data.path, data.acknowledged, data.synced, data.discards, {
    acknowledge: (seq) => post({ type: 'acknowledge', seq }),
    discard: (seq) => post({ type: 'discard', seq }),
  });
} catch (err) {
  post({ type: 'failed', error: (err as Error).message });
}

if (reader) {
  const opened = reader;
  let credentials = data.credentials;
  const sender = new UplinkSender({
    controlPlaneUrl: data.controlPlaneUrl,
    rootPem: data.rootPem,
    batchSize: data.batchSize,
    ...(data.batchBytes !== undefined ? { batchBytes: data.batchBytes } : {}),
    credentials: () => credentials,
    queue: opened,
    onSent: (count, stored) => post({ type: 'sent', count, stored }),
    onRejected: (message, detail) => post({ type: 'rejected', message: { id: message.id, deviceId: message.deviceId, topic: message.topic }, detail }),
    onStateChange: (reachable, detail) => post({ type: 'state', reachable, detail }),
  });
  sender.start();
  let stopping = false;
  parentPort?.on('message', (message: ToSenderThread) => {
    if (message.type === 'committed') opened.committed(message.synced);
    else if (message.type === 'credentials') credentials = { key: message.key, cert: message.cert };
    else if (message.type === 'stop' && !stopping) {
      stopping = true;
      void sender.stop().then(() => {
        opened.close();
        parentPort?.close(); // the thread ends: Uplink waits for its exit
      });
    }
  });
  post({ type: 'ready' });
}
