/**
 * The downlink as the gateway runs it: the stream from the control plane, the commands held on
 * disk and delivered through the broker, and the reports going back. Started with the gateway
 * (it has a control plane); closed by the Closer.
 */
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import type { Closer } from '../../core/closer.js';
import type { Logger } from '../../core/logger.js';
import type { BrokerMessage } from '../mqtt/mqtt-session.js';
import { CommandDelivery } from './command-delivery.js';
import { DownlinkClient } from './downlink-client.js';
import { DownlinkState } from './downlink-state.js';
import { ReportSender } from './report-sender.js';

/** How often held commands are looked at: expired ones dropped, unanswered ones sent again. */
const SWEEP_MS = 2_000;

export interface DownlinkServiceOptions {
  dir: string;
  controlPlaneUrl: string;
  rootPem: string;
  /** The gateway's key and certificate as they are now (read at every connect). */
  credentials: () => { key: string; cert: string };
  broker: { publish(message: BrokerMessage): number };
  clock: Clock;
  logger: Logger;
  closer: Closer;
}

export interface Downlink {
  readonly stream: DownlinkClient;
  readonly delivery: CommandDelivery;
  /** Every message the broker routed (a device's acknowledgement is one). */
  observe(message: BrokerMessage): void;
  /** A device's client subscribed: what the gateway holds for it is sent. */
  deviceSubscribed(deviceId: string): void;
}

export function startDownlinkService(options: DownlinkServiceOptions): Downlink {
  const { logger, closer } = options;
  // Next to the uplink's queue, in its file: the gateway's state on disk is one SQLite database.
  const state = new DownlinkState(join(options.dir, 'uplink.db'));
  closer.add(() => state.close());
  const sender = new ReportSender({ controlPlaneUrl: options.controlPlaneUrl, rootPem: options.rootPem, credentials: options.credentials, state, logger });
  closer.add(() => sender.stop());
  const delivery = new CommandDelivery({ broker: options.broker, state, clock: options.clock, logger, reported: () => sender.wake() });
  const stream = new DownlinkClient({
    controlPlaneUrl: options.controlPlaneUrl,
    rootPem: options.rootPem,
    credentials: options.credentials,
    lastEventId: () => state.resumeAfter(),
    onCommand: (command) => delivery.receive(command),
    onStateChange: (connected, detail) => {
      if (connected) logger.info({ after: state.resumeAfter(), held: delivery.size }, 'downlink connected');
      else logger.warn({ detail }, 'downlink down; commands wait at the control plane');
    },
  });
  closer.add(() => stream.stop());
  closer.every(
    SWEEP_MS,
    () => delivery.sweep(),
    (err) => logger.error({ err }, 'sweeping the held commands failed'),
  );
  stream.start();
  // Reports recorded before a restart go now.
  sender.wake();
  return {
    stream,
    delivery,
    observe: (message) => delivery.observe(message),
    deviceSubscribed: (deviceId) => delivery.deviceSubscribed(deviceId),
  };
}
