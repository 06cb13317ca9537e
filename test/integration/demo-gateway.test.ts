/**
 * `hearth demo` with its home gateway: the issued devices connect over mutual TLS and publish, the
 * revoked one is refused at CONNECT, one revoked while connected is cut off, a paired sensor
 * publishes, and the control plane stores what the gateway sent up. `--no-gateway` skips it; and
 * without `--exit` the demo serves until Ctrl-C, then stops cleanly, gateway included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { CLI } from '../support/hearth-process.js';
import { findCommand } from '../support/commands.js';

const env = { ...process.env, HEARTH_LOG_LEVEL: 'warn' };
const demoDir = (stdout: string) => /Hearth demo in (\S+)/.exec(stdout)?.[1];
const id = (n: number) => `urn:dev:ops:hearth-demo_bulb-000${n}`;

test(
  'hearth demo starts a gateway: devices connect over mTLS and publish, the revoked one is refused, a live revocation cuts a session',
  { timeout: 90_000 },
  (t) => {
    const started = performance.now();
    const result = spawnSync(process.execPath, [CLI, 'demo', '--exit', '--devices', '3', '--fleet', '2'], { encoding: 'utf8', timeout: 60_000, env });
    const seconds = (performance.now() - started) / 1000;
    const dir = demoDir(result.stdout);
    try {
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
      const out = result.stdout;
      assert.match(out, /^Home gateway: /m);
      assert.match(out, /^gateway {4}localhost in \S+\/gateway$/m);
      assert.match(out, /^registered gateway localhost \(EAB key eab_[A-Za-z0-9_-]+\)$/m);
      assert.match(out, /^ {11}gateway certificate [0-9a-f]+ from the services CA \(ACME http-01 with the EAB key\)/m);
      assert.match(out, /^mqtts {6}localhost:\d+ /m);
      for (const n of [1, 3]) assert.match(out, new RegExp(`^connected +${id(n)} +MQTT 5 over mutual TLS, certificate [0-9a-f]+$`, 'm'));
      assert.doesNotMatch(out, new RegExp(`^connected +${id(2)}`, 'm'));
      assert.match(out, /^published {2}3 QoS 1 messages from each on hearth\/<device-id>\/telemetry/m);
      assert.match(out, new RegExp(`^refused +${id(2)} +CONNACK 0x87 Not authorized: certificate [0-9a-f]+ is revoked$`, 'm'));
      const cut = new RegExp(
        `^revoked +${id(3)} +while connected: the gateway closed its session (\\d+\\.\\d) ms after the revoke call \\(DISCONNECT 0x87 Not authorized\\)$`,
        'm',
      ).exec(out);
      assert.ok(cut, out);
      const ms = Number(cut[1]);
      t.diagnostic(`revoke call to disconnect: ${ms} ms; demo ran ${seconds.toFixed(1)} s`);
      assert.ok(ms < 5_000, `the session closed ${ms} ms after the revoke call`);
      assert.match(out, /^paired {5}sensor pir-demo /m);
      assert.match(out, /^ {11}connected with it over TLS and published 3 QoS 1 messages with counters 1-3$/m);
      // mosquitto: files in the demo folder, a command line to copy (and run, when installed).
      assert.match(out, /^\$ mosquitto_pub -V mqttv5 -h localhost -p \d+ --cafile ca\/root\.pem --cert device-1-chain\.pem --key device-1\.key /m);
      assert.match(out, /^\$ mosquitto_sub -V mqttv5 .* -t 'hearth\/urn:dev:ops:hearth-demo_bulb-0001\/cmd\/#' -v$/m);
      // What the control plane stored, per device (device-1 once more when mosquitto_pub ran).
      const mosquitto = findCommand('mosquitto_pub') !== undefined;
      const stored = (who: string) => Number(new RegExp(`^ {2}${who.replace(/[.:]/g, '\\$&')} +(\\d+) messages`, 'm').exec(out)?.[1]);
      assert.equal(stored(id(1)), mosquitto ? 4 : 3);
      assert.equal(stored(id(3)), 3);
      assert.equal(stored(id(2)), 0);
      assert.equal(stored('sensor:pir-demo'), 3);
      assert.doesNotMatch(out, /\(expected \d+\)/);
      // The gateway's metrics.
      assert.match(out, new RegExp(`^ {2}hearth_gateway_mqtt_connects_total\\{protocol="mqtt5",kind="device"\\} ${mosquitto ? 3 : 2}$`, 'm'));
      assert.match(out, /^ {2}hearth_gateway_connections_refused_total\{reason="revoked"\} 1$/m);
      assert.match(out, /^ {2}hearth_gateway_revocation_disconnects_total 1$/m);
      assert.match(out, new RegExp(`^ {2}hearth_gateway_uplink_sent_total ${mosquitto ? 10 : 9}$`, 'm'));
      assert.ok(seconds < 60, `the demo took ${seconds.toFixed(1)} s`);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('hearth demo --no-gateway skips the gateway', { timeout: 90_000 }, () => {
  const result = spawnSync(process.execPath, [CLI, 'demo', '--exit', '--no-gateway', '--devices', '2', '--fleet', '0'], {
    encoding: 'utf8',
    timeout: 60_000,
    env,
  });
  const dir = demoDir(result.stdout);
  try {
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^revoked /m);
    assert.doesNotMatch(result.stdout, /Home gateway|mosquitto/);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('without --exit the demo serves, gateway included, until Ctrl-C, then stops cleanly', { timeout: 90_000 }, async () => {
  const child = spawn(process.execPath, [CLI, 'demo', '--devices', '2', '--fleet', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not finish its walkthrough:\n${stdout}\n${stderr}`)), 60_000);
      const check = () => {
        if (!/keep running; press Ctrl-C to stop/.test(stdout)) return;
        clearTimeout(timer);
        resolve();
      };
      child.stdout.on('data', check);
      void exited.then((code) => reject(new Error(`the demo exited with ${code}:\n${stdout}\n${stderr}`)));
    });
    // With only two devices, one more is issued to be revoked live.
    assert.match(stdout, new RegExp(`^revoked +${id(3)} +while connected: the gateway closed its session`, 'm'));
    const port = Number(/and the gateway \(mqtts localhost:(\d+)\) keep running/.exec(stdout)?.[1]);
    assert.ok(port > 0, stdout);
    child.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 15_000)))]);
    clearTimeout(timer);
    assert.equal(code, 0, `after Ctrl-C: ${code}\n${stderr}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    const dir = demoDir(stdout);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});
