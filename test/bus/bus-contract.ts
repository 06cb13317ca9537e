/**
 * The behaviour every EventBus adapter must show. Each adapter's test file registers this suite
 * with a factory that opens a fresh, isolated bus per test.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DomainEvent, EventBus } from '../../src/bus/bus.js';
import { BusError, InvalidEventError } from '../../src/bus/bus-errors.js';
import { BadRequestError } from '../../src/core/errors.js';

export interface BusUnderTest {
  bus: EventBus;
  /** Closes the bus and removes whatever it created outside the process. */
  dispose: () => Promise<void>;
}

export type OpenBusUnderTest = (options: { onError: (err: unknown) => void }) => Promise<BusUnderTest>;

export function makeEvent(type: string, data: Record<string, unknown> = {}): DomainEvent {
  return { id: randomUUID(), type, occurredAt: new Date().toISOString(), data };
}

/** Collects what one handler receives and lets a test wait until a given count arrived. */
export class Inbox {
  readonly events: DomainEvent[] = [];
  private waiters: Array<() => void> = [];

  readonly handler = (event: DomainEvent): void => {
    this.events.push(event);
    for (const wake of this.waiters) wake();
  };

  async waitFor(count: number, timeoutMs = 5000): Promise<DomainEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`expected ${count} events, got ${this.events.length}: ${this.types().join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters = [];
    }
    return this.events;
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

export function registerBusContract(label: string, open: OpenBusUnderTest, skip?: string): void {
  describe(`EventBus contract: ${label}`, { skip }, () => {
    async function withBus(run: (bus: EventBus, errors: unknown[]) => Promise<void>): Promise<void> {
      const errors: unknown[] = [];
      const { bus, dispose } = await open({ onError: (err) => errors.push(err) });
      try {
        await run(bus, errors);
      } finally {
        await dispose();
      }
    }

    test('delivers to matching subscribers only: exact, "*" and ">"', () =>
      withBus(async (bus) => {
        const exact = new Inbox();
        const certs = new Inbox();
        const everything = new Inbox();
        const deep = new Inbox();
        await bus.subscribe('cert.issued', exact.handler);
        await bus.subscribe('cert.*', certs.handler);
        await bus.subscribe('>', everything.handler);
        await bus.subscribe('device.>', deep.handler);

        for (const type of ['cert.revoked', 'device.enrolled', 'cert.issued.extra', 'device', 'cert.issued']) {
          await bus.publish(makeEvent(type));
        }
        // Per-subscriber order means the last event arriving proves the earlier ones were judged.
        await exact.waitFor(1);
        assert.deepEqual(exact.types(), ['cert.issued']);
        await certs.waitFor(2);
        assert.deepEqual(certs.types(), ['cert.revoked', 'cert.issued']);
        await everything.waitFor(5);
        assert.deepEqual(everything.types(), ['cert.revoked', 'device.enrolled', 'cert.issued.extra', 'device', 'cert.issued']);
        await deep.waitFor(1);
        await bus.publish(makeEvent('device.enrolled'));
        await deep.waitFor(2);
        assert.deepEqual(deep.types(), ['device.enrolled', 'device.enrolled']);
      }));

    test('preserves publish order per subscriber, also with slow async handlers', () =>
      withBus(async (bus) => {
        const seen: number[] = [];
        const inbox = new Inbox();
        await bus.subscribe('order.*', async (event) => {
          await sleep(Math.random() * 3);
          seen.push(event.data.n as number);
          inbox.handler(event);
        });
        const count = 50;
        for (let n = 0; n < count; n++) await bus.publish(makeEvent('order.placed', { n }));
        await inbox.waitFor(count);
        assert.deepEqual(
          seen,
          Array.from({ length: count }, (_, n) => n),
        );
      }));

    test('delivers asynchronously, never inside publish', () =>
      withBus(async (bus) => {
        const inbox = new Inbox();
        let publishing = false;
        let calledDuringPublish = false;
        await bus.subscribe('cert.issued', (event) => {
          calledDuringPublish ||= publishing;
          inbox.handler(event);
        });
        publishing = true;
        const pending = bus.publish(makeEvent('cert.issued'));
        publishing = false;
        await pending;
        await inbox.waitFor(1);
        assert.equal(calledDuringPublish, false);
      }));

    test('unsubscribe stops delivery to that subscriber only', () =>
      withBus(async (bus) => {
        const leaving = new Inbox();
        const staying = new Inbox();
        const subscription = await bus.subscribe('cert.*', leaving.handler);
        await bus.subscribe('cert.*', staying.handler);
        await bus.publish(makeEvent('cert.issued'));
        await leaving.waitFor(1);
        await staying.waitFor(1);

        await subscription.unsubscribe();
        await bus.publish(makeEvent('cert.revoked'));
        await staying.waitFor(2);
        await sleep(100);
        assert.deepEqual(leaving.types(), ['cert.issued']);
        await subscription.unsubscribe(); // idempotent
      }));

    test('a failing handler is reported and isolated from other subscribers and the publisher', () =>
      withBus(async (bus, errors) => {
        const failing = new Inbox();
        const healthy = new Inbox();
        await bus.subscribe('cert.*', (event) => {
          failing.handler(event);
          if (event.type === 'cert.issued') throw new Error('sync boom');
          return Promise.reject(new Error('async boom'));
        });
        await bus.subscribe('cert.*', healthy.handler);

        await bus.publish(makeEvent('cert.issued'));
        await bus.publish(makeEvent('cert.revoked'));
        await bus.publish(makeEvent('cert.renewed'));
        await healthy.waitFor(3);
        await failing.waitFor(3);
        await waitUntil(() => errors.length >= 3);
        assert.equal(errors.length, 3);
        for (const err of errors) {
          assert.ok(err instanceof BusError);
          assert.match(err.message, /handler subscribed to "cert\.\*" failed/);
          assert.match(String((err.cause as Error).message), /boom/);
        }
      }));

    test('rejects invalid event types, events and patterns', () =>
      withBus(async (bus) => {
        for (const type of ['', 'Cert.issued', 'cert..issued', '.cert', 'cert.', 'cert issued', 'cert.*', 'cert.>', 'cért']) {
          await assert.rejects(bus.publish(makeEvent(type)), (err: unknown) => {
            assert.ok(err instanceof InvalidEventError, `type ${JSON.stringify(type)}`);
            assert.ok(err instanceof BadRequestError);
            assert.equal(err.status, 400);
            return true;
          });
        }
        const good = makeEvent('cert.issued');
        const broken: unknown[] = [
          { ...good, id: '' },
          { ...good, id: 'has space' },
          { ...good, occurredAt: 'yesterday' },
          { ...good, data: [1, 2] },
          { ...good, data: { big: 1n } },
        ];
        for (const event of broken) {
          await assert.rejects(bus.publish(event as DomainEvent), InvalidEventError);
        }
        for (const pattern of ['', 'Cert.*', 'cert.>.issued', 'cert.**', 'cert..x']) {
          await assert.rejects(
            bus.subscribe(pattern, () => undefined),
            InvalidEventError,
            `pattern ${pattern}`,
          );
        }
      }));

    test('data survives a JSON round trip unchanged', () =>
      withBus(async (bus) => {
        const inbox = new Inbox();
        await bus.subscribe('cert.issued', inbox.handler);
        const data = {
          serial: '00a1b2c3',
          sans: ['device-1.home.arpa', 'gw.local'],
          nested: { depth: { deeper: [1, 2.5, -3, null, true] } },
          text: 'Grüße 🔐 "quoted" \n newline',
          empty: {},
        };
        const event = makeEvent('cert.issued', data);
        await bus.publish(event);
        const [received] = await inbox.waitFor(1);
        assert.deepEqual(received, event);
        assert.notEqual(received?.data, data, 'subscribers get their own copy');
      }));

    test('close refuses further use', async () => {
      const { bus, dispose } = await open({ onError: () => undefined });
      try {
        await bus.close();
        await assert.rejects(bus.publish(makeEvent('cert.issued')), BusError);
        await assert.rejects(
          bus.subscribe('cert.*', () => undefined),
          BusError,
        );
        await bus.close(); // idempotent
      } finally {
        await dispose();
      }
    });
  });
}

export async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await sleep(10);
  }
}
