/**
 * The uplink thread: owns the queue on disk (uplink-queue.ts) and its sender to the control plane
 * (uplink-sender.ts), so that the commits, the reads back and the HTTPS requests of a busy home
 * run beside the broker's event loop instead of on it. The event loop hears when each batch is
 * on disk (it then acknowledges the publishers) and what the sender did.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { EnqueueBatch, FromUplinkWorker, ToUplinkWorker, UplinkWorkerData } from './uplink-protocol.js';
import { UplinkQueue } from './uplink-queue.js';
import { UplinkSender } from './uplink-sender.js';

const data = workerData as UplinkWorkerData;
const post = (message: FromUplinkWorker) => parentPort?.postMessage(message);

let queue: UplinkQueue | undefined;
try {
  queue = UplinkQueue.open(data.path, data.queue);
} catch (err) {
  post({ type: 'failed', error: (err as Error).message });
}

if (queue) {
  const opened = queue;
  let credentials = data.sender.credentials;
  const sender = new UplinkSender({
    ...data.sender,
    credentials: () => credentials,
    queue: opened,
    onSent: (count, stored) => post({ type: 'sent', count, stored, depth: opened.depth, dropped: opened.dropped }),
    onRejected: (message, detail) => post({ type: 'rejected', message: { id: message.id, deviceId: message.deviceId, topic: message.topic }, detail }),
    onStateChange: (reachable, detail) => post({ type: 'state', reachable, detail, depth: opened.depth }),
  });
  sender.start();
  let stopping = false;
  parentPort?.on('message', (message: ToUplinkWorker) => {
    if (message.type === 'enqueue') enqueueBatch(opened, message);
    else if (message.type === 'credentials') credentials = { key: message.key, cert: message.cert };
    else if (message.type === 'stop' && !stopping) {
      stopping = true;
      void sender.stop().then(() => {
        opened.close();
        post({ type: 'stopped' });
        parentPort?.close();
      });
    }
  });
  post({ type: 'ready', depth: opened.depth });
}

/** A batch goes into the queue's next commit; its last message's callback reports the whole batch. */
function enqueueBatch(target: UplinkQueue, batch: EnqueueBatch): void {
  const last = batch.topics.length - 1;
  let start = 0;
  for (let i = 0; i <= last; i++) {
    const end = batch.payloadEnds[i] as number;
    target.enqueue(
      {
        deviceId: batch.deviceIds[i] as string,
        topic: batch.topics[i] as string,
        payload: Buffer.from(batch.payloads, start, end - start),
        qos: batch.qos[i] as number,
        publishedAt: batch.publishedAt[i] as number,
      },
      i === last ? (err) => post({ type: 'committed', batch: batch.batch, error: err ? err.message : null, depth: target.depth, dropped: target.dropped }) : undefined,
    );
    start = end;
  }
}
