/**
 * A worker thread of the fleet simulator: runs its share of the devices and reports each
 * outcome to the main thread, which draws the progress and the final table.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { simulateFleet, type DeviceOutcome, type FleetOptions } from './fleet-simulator.js';

export type FleetWorkerMessage =
  | { type: 'outcome'; outcome: DeviceOutcome }
  | { type: 'renewed'; deviceId: string }
  | { type: 'renewal-failed'; deviceId: string; reason: string }
  | { type: 'done' };

const port = parentPort;
if (!port) throw new Error('fleet-worker runs as a worker thread');
const controller = new AbortController();
port.on('message', (message: unknown) => {
  if (message === 'stop') controller.abort(new Error('stopped'));
});
const options = workerData as Omit<FleetOptions, 'signal' | 'onOutcome' | 'onRenewal' | 'onRenewalFailure'>;
await simulateFleet({
  ...options,
  signal: controller.signal,
  onOutcome: (outcome) => port.postMessage({ type: 'outcome', outcome } satisfies FleetWorkerMessage),
  onRenewal: (deviceId) => port.postMessage({ type: 'renewed', deviceId } satisfies FleetWorkerMessage),
  onRenewalFailure: (deviceId, reason) => port.postMessage({ type: 'renewal-failed', deviceId, reason } satisfies FleetWorkerMessage),
});
port.postMessage({ type: 'done' } satisfies FleetWorkerMessage);
port.close();
