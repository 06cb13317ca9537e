/**
 * The fleet simulator: many devices of one factory batch in one thread, each a DeviceAgent with
 * its factory key from the batch directory and its identity in memory (or in a folder of its own).
 * They enroll zero-touch, at most `concurrency` at a time, and then, if asked, keep renewing on
 * the schedule the control plane's renewal information sets.
 */
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { AcmeProblemError } from './acme-client.js';
import { DeviceAgent } from './device-agent.js';
import { readFactoryCredentials, type BatchDevice } from './factory-credentials.js';
import { HttpsTransport, TransportError } from './https-transport.js';
import { FileIdentityStore, MemoryIdentityStore } from './identity-store.js';

export interface FleetOptions {
  batchDir: string;
  directoryUrl: string;
  caPem: string;
  devices: readonly BatchDevice[];
  concurrency: number;
  /** Keep each enrolled device renewing until `signal` aborts. */
  renew?: boolean;
  /** Keep each device's identity in <stateDir>/<serial>/ instead of memory. */
  stateDir?: string;
  /** Enrollment attempts per device before it counts as failed. */
  attempts?: number;
  signal?: AbortSignal;
  onOutcome?: (outcome: DeviceOutcome) => void;
  onRenewal?: (deviceId: string) => void;
  /** A device gave up renewing (the control plane refused it, or kept failing): why. */
  onRenewalFailure?: (deviceId: string, reason: string) => void;
}

export interface DeviceOutcome {
  deviceId: string;
  ok: boolean;
  /** Time to the first certificate (or to giving up), in ms. */
  ms: number;
  /** Why it failed: the ACME error type or the network error code. */
  reason?: string;
}

export function failureReason(error: unknown): string {
  if (error instanceof AcmeProblemError) return error.type;
  if (error instanceof TransportError) return error.code;
  return error instanceof Error ? error.name : 'error';
}

/** Runs the devices; resolves with one outcome per device once all have enrolled or given up (and, with renew, once the signal aborts). */
export async function simulateFleet(options: FleetOptions): Promise<DeviceOutcome[]> {
  // Every device waits on the one signal: as many listeners as devices is expected, not a leak.
  if (options.signal) setMaxListeners(0, options.signal);
  const transport = new HttpsTransport({ caPem: options.caPem, maxSockets: Math.max(4, options.concurrency), timeoutMs: 60_000 });
  const outcomes: DeviceOutcome[] = [];
  const renewing: Promise<void>[] = [];
  let next = 0;
  const one = async (device: BatchDevice) => {
    const agent = new DeviceAgent({
      directoryUrl: options.directoryUrl,
      caPem: options.caPem,
      deviceId: device.deviceId,
      factory: readFactoryCredentials(options.batchDir, device.serial),
      store: options.stateDir ? new FileIdentityStore(join(options.stateDir, device.serial)) : new MemoryIdentityStore(),
      transport,
      // A simulated device gives up (and is counted as failed, with the reason) rather than wait
      // out a long Retry-After, such as the new-accounts-per-address limit a fleet behind one
      // address reaches (acme.rateLimits.newAccountsPerIp).
      backoff: { baseMs: 500, maxMs: 10_000, attempts: options.attempts ?? 8, maxWaitMs: 30_000 },
      onEvent: (event) => {
        if (event.type === 'renewed') options.onRenewal?.(device.deviceId);
      },
    });
    const started = performance.now();
    let outcome: DeviceOutcome;
    try {
      await agent.ensureCertificate(options.signal);
      // A certificate kept from an earlier run may have been revoked meanwhile: renewal
      // information says "now" for it, and the device counts as enrolled only once replaced.
      await agent.renewIfDue(options.signal);
      outcome = { deviceId: device.deviceId, ok: true, ms: performance.now() - started };
      if (options.renew && options.signal) {
        const signal = options.signal;
        renewing.push(
          agent.run(signal).catch((error: unknown) => {
            if (!signal.aborted) options.onRenewalFailure?.(device.deviceId, failureReason(error));
          }),
        );
      }
    } catch (error) {
      outcome = { deviceId: device.deviceId, ok: false, ms: performance.now() - started, reason: failureReason(error) };
    }
    outcomes.push(outcome);
    options.onOutcome?.(outcome);
  };
  const lanes = Array.from({ length: Math.min(options.concurrency, options.devices.length) }, async () => {
    while (next < options.devices.length && !options.signal?.aborted) await one(options.devices[next++] as BatchDevice);
  });
  try {
    await Promise.all(lanes);
    await Promise.all(renewing);
  } finally {
    transport.close();
  }
  return outcomes;
}

export interface FleetSummary {
  devices: number;
  enrolled: number;
  failed: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
  perSecond: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export function summarize(outcomes: readonly DeviceOutcome[], seconds: number): FleetSummary {
  const times = outcomes
    .filter((o) => o.ok)
    .map((o) => o.ms)
    .sort((a, b) => a - b);
  const failed: Record<string, number> = {};
  for (const o of outcomes) if (!o.ok) failed[o.reason ?? 'error'] = (failed[o.reason ?? 'error'] ?? 0) + 1;
  return {
    devices: outcomes.length,
    enrolled: times.length,
    failed,
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
    seconds,
    perSecond: seconds > 0 ? times.length / seconds : 0,
  };
}
