/**
 * `npm run bench -- commands [--commands N] [--runs R]`: the round trip of a command to a device,
 * from the operator's API call to the device's PUBACK, through the real processes: `hearth serve`,
 * `hearth gateway` enrolled from it (test/support/gateway-bed.ts), and an MQTT.js device connected
 * to the gateway over mutual TLS and subscribed to its `cmd/+` topics. Commands go one at a time
 * (the next after the previous PUBACK), so each figure is one command's latency: the API's 202,
 * the downlink's push to the gateway (server-sent events over mutual TLS), the gateway holding it
 * on disk (an fsync), and the publish to the device. Also printed: the API call's own latency, and
 * the `deliveredAt` the gateway reported back (its clock at the PUBACK) against the call's start,
 * which shows the report made it (read for the last 20 commands of each run).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { percentile } from '../src/device/fleet-simulator.js';
import { startGatewayBed } from '../test/support/gateway-bed.js';
import { median } from './openssl-speed.js';

const { values } = parseArgs({ options: { commands: { type: 'string', default: '200' }, runs: { type: 'string', default: '3' } } });
const commands = Number(values.commands);
const runs = Number(values.runs);
if (!Number.isInteger(commands) || commands < 10) throw new Error('--commands must be a whole number of at least 10');
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number of at least 1');

const bed = await startGatewayBed();
try {
  const device = await bed.issueDevice('urn:dev:ops:acme-lamp-bench');
  const client = mqtt.connect({
    protocol: 'mqtts',
    host: 'localhost',
    port: bed.gateway.mqttPort,
    ca: readFileSync(bed.rootFile, 'utf8'),
    key: device.keyPem,
    cert: device.certPem,
    protocolVersion: 5,
    reconnectPeriod: 0,
    clientId: 'bench-lamp',
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  // Attached as devices are: its first message goes up through the gateway.
  await client.publishAsync(`hearth/${device.deviceId}/state`, '{"online":true}', { qos: 1 });
  for (let attached = false; !attached; await new Promise((r) => setTimeout(r, 200))) {
    const answer = await bed.server.client.call<{ count: number }>('GET', `/api/v1/telemetry?deviceId=${encodeURIComponent(device.deviceId)}&limit=1`);
    attached = answer.count > 0;
  }
  await client.subscribeAsync(`hearth/${device.deviceId}/cmd/+`, { qos: 1 });
  let onPuback: (() => void) | undefined;
  client.on('packetsend', (packet) => {
    if (packet.cmd === 'puback') onPuback?.();
  });
  const path = `/api/v1/devices/${device.deviceId}/commands`;

  interface Run {
    pubackP50: number;
    pubackP99: number;
    apiP50: number;
    apiP99: number;
    deliveredP50: number;
    rate: number;
  }
  const results: Run[] = [];
  for (let run = 0; run <= runs; run++) {
    const toPuback: number[] = [];
    const toAnswer: number[] = [];
    const ids: { id: string; started: number }[] = [];
    const count = run === 0 ? 20 : commands; // run 0 warms up, and is not counted
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const pubacked = new Promise<number>((resolve) => (onPuback = () => resolve(performance.now())));
      const view = await bed.server.client.call<{ id: string }>('POST', path, { name: 'light', payload: { on: i % 2 === 0, i } });
      toAnswer.push(performance.now() - t0);
      toPuback.push((await pubacked) - t0);
      ids.push({ id: view.id, started: Date.now() - (performance.now() - t0) });
    }
    const seconds = (performance.now() - started) / 1000;
    // The delivery the gateway reported back (deliveredAt, its clock at the PUBACK) against the call's start.
    const delivered: number[] = [];
    for (const { id, started: at } of ids.slice(-20)) {
      for (;;) {
        const view = await bed.server.client.call<{ deliveredAt: string | null }>('GET', `${path}/${id}`);
        if (view.deliveredAt !== null) {
          delivered.push(Date.parse(view.deliveredAt) - at);
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (run === 0) continue;
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const result = {
      pubackP50: percentile(sorted(toPuback), 50),
      pubackP99: percentile(sorted(toPuback), 99),
      apiP50: percentile(sorted(toAnswer), 50),
      apiP99: percentile(sorted(toAnswer), 99),
      deliveredP50: percentile(sorted(delivered), 50),
      rate: count / seconds,
    };
    results.push(result);
    console.log(
      `  run ${run}: ${count} commands, API call → device PUBACK p50/p99 ${result.pubackP50.toFixed(1)}/${result.pubackP99.toFixed(1)} ms, ` +
        `API answer p50/p99 ${result.apiP50.toFixed(1)}/${result.apiP99.toFixed(1)} ms, reported deliveredAt p50 ${result.deliveredP50.toFixed(0)} ms, ${result.rate.toFixed(0)} commands/s one at a time`,
    );
  }
  client.end(true);
  const m = (pick: (r: Run) => number) => median(results.map(pick));
  console.log('');
  console.log(`| what (median of ${runs} runs of ${commands} commands, one at a time) | p50 | p99 |`);
  console.log('| --- | --- | --- |');
  console.log(`| API call → device PUBACK | ${m((r) => r.pubackP50).toFixed(1)} ms | ${m((r) => r.pubackP99).toFixed(1)} ms |`);
  console.log(`| API call → 202 answer | ${m((r) => r.apiP50).toFixed(1)} ms | ${m((r) => r.apiP99).toFixed(1)} ms |`);
  console.log(`| API call → reported deliveredAt (gateway's clock, last 20 of each run) | ${m((r) => r.deliveredP50).toFixed(0)} ms | |`);
  console.log(`| commands per second, one at a time | ${m((r) => r.rate).toFixed(0)} | |`);
} finally {
  await bed.close();
}
