/**
 * The store-and-forward uplink as the gateway runs it: device messages on the configured topics
 * are queued on disk (the publisher's PUBACK waits for the commit) and sent to the control plane in
 * batches from a thread of the uplink's own; its state goes to the metrics and the log.
 */
import { join } from 'node:path';
import type { Logger } from '../../core/logger.js';
import type { MessageSink } from '../broker/broker.js';
import type { GatewayConfig } from '../gateway-config.js';
import type { GatewayMetrics } from '../gateway-metrics.js';
import { Uplink } from './uplink.js';
import { UplinkSelection } from './uplink-selection.js';

export interface UplinkServiceOptions {
  dir: string;
  config: GatewayConfig;
  rootPem: string;
  /** The gateway's key and certificate as they are now (read at every commit). */
  credentials: () => { key: string; cert: string };
  metrics: GatewayMetrics;
  logger: Logger;
}

export async function startUplinkService(options: UplinkServiceOptions): Promise<{ uplink: Uplink; sink: MessageSink }> {
  const { config, metrics, logger } = options;
  let droppedSeen = 0;
  const uplink: Uplink = await Uplink.start({
    path: join(options.dir, 'uplink.db'),
    queue: { maxMessages: config.uplink.maxQueuedMessages, synchronous: config.uplink.synchronous },
    controlPlaneUrl: config.controlPlane as string,
    rootPem: options.rootPem,
    credentials: () => options.credentials(),
    batchSize: config.uplink.batchSize,
    onSent: (count) => {
      metrics.uplinkSent.inc(count);
      if (uplink.dropped > droppedSeen) {
        metrics.uplinkDropped.inc({ reason: 'queue-full' }, uplink.dropped - droppedSeen);
        logger.warn({ dropped: uplink.dropped - droppedSeen }, 'the uplink queue was full: the oldest messages were dropped');
        droppedSeen = uplink.dropped;
      }
    },
    onRejected: (message, detail) => {
      metrics.uplinkDropped.inc({ reason: 'refused' });
      logger.error(
        { messageId: message.id, deviceId: message.deviceId, topic: message.topic, detail },
        'the control plane refused an uplink message; it is discarded',
      );
    },
    onStateChange: (reachable, detail) => {
      metrics.uplinkUp.set(reachable ? 1 : 0);
      if (reachable) logger.info({ queued: uplink.depth }, 'uplink to the control plane restored');
      else logger.warn({ detail, queued: uplink.depth }, 'the control plane is unreachable; device messages wait in the queue on disk');
    },
    onThreadFailure: (detail) =>
      logger.error({ detail }, 'the uplink sender thread failed; it is restarted and takes over from the last batch the control plane stored'),
  });
  metrics.uplinkDepth = () => uplink.depth;
  metrics.uplinkUp.set(1);
  const selection = new UplinkSelection(config.uplink.topics, config.uplink.exclude);
  const sink: MessageSink = {
    accepts: (message) => selection.goesUp(message),
    keep: (message, done) =>
      uplink.enqueue({ deviceId: message.from, topic: message.topic, payload: message.payload, qos: message.qos, publishedAt: Date.now() }, done),
  };
  return { uplink, sink };
}
