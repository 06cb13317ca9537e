/**
 * Spreads a simulated fleet over worker threads (each with its own event loop and TLS sessions,
 * so the simulator can use more than one core) and gathers their outcomes. With no workers the
 * fleet runs on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import { simulateFleet, type DeviceOutcome, type FleetOptions } from './fleet-simulator.js';
import type { FleetWorkerMessage } from './fleet-worker.js';

export interface FleetRun {
  outcomes: DeviceOutcome[];
  /** Wall time until every device enrolled or gave up. */
  seconds: number;
}

export interface FleetRunOptions extends Omit<FleetOptions, 'onOutcome' | 'onRenewal' | 'onRenewalFailure'> {
  workers: number;
  onOutcome?: (outcome: DeviceOutcome, done: number) => void;
  onRenewal?: (deviceId: string) => void;
  onRenewalFailure?: (deviceId: string, reason: string) => void;
  /** Called once every device has an outcome (before renewals, which run until the signal aborts). */
  onEnrolled?: (run: FleetRun) => void;
}

export async function runFleet(options: FleetRunOptions): Promise<FleetRun> {
  const started = performance.now();
  const outcomes: DeviceOutcome[] = [];
  let enrolledAt: number | undefined;
  const record = (outcome: DeviceOutcome) => {
    outcomes.push(outcome);
    options.onOutcome?.(outcome, outcomes.length);
    if (outcomes.length === options.devices.length) {
      enrolledAt = performance.now();
      options.onEnrolled?.({ outcomes: [...outcomes], seconds: (enrolledAt - started) / 1000 });
    }
  };
  const { workers, onOutcome: _o, onRenewal, onRenewalFailure, onEnrolled: _e, signal, ...fleet } = options;
  if (workers <= 0) {
    await simulateFleet({
      ...fleet,
      ...(signal ? { signal } : {}),
      onOutcome: record,
      ...(onRenewal ? { onRenewal } : {}),
      ...(onRenewalFailure ? { onRenewalFailure } : {}),
    });
  } else {
    const shares = Array.from({ length: Math.min(workers, options.devices.length) }, (_, w) => options.devices.filter((_d, i) => i % workers === w));
    await Promise.all(
      shares.map(
        (devices) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(new URL('./fleet-worker.js', import.meta.url), {
              workerData: { ...fleet, devices, concurrency: Math.max(1, Math.ceil(options.concurrency / shares.length)) },
            });
            const stop = () => worker.postMessage('stop');
            signal?.addEventListener('abort', stop, { once: true });
            worker.on('message', (message: FleetWorkerMessage) => {
              if (message.type === 'outcome') record(message.outcome);
              else if (message.type === 'renewed') onRenewal?.(message.deviceId);
              else if (message.type === 'renewal-failed') onRenewalFailure?.(message.deviceId, message.reason);
            });
            worker.once('error', reject);
            worker.once('exit', (code) => {
              signal?.removeEventListener('abort', stop);
              if (code === 0) resolve();
              else reject(new Error(`a simulator worker exited with ${code}`));
            });
          }),
      ),
    );
  }
  return { outcomes, seconds: ((enrolledAt ?? performance.now()) - started) / 1000 };
}
