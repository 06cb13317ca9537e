/**
 * Debian's mosquitto_pub and mosquitto_sub, MQTT 5 and 3.1.1, against a real gateway enrolled
 * from a real control plane: a device certificate works inside the ACL and is refused outside it;
 * no certificate or a certificate from another CA is cut off as the TLS handshake ends (no
 * CONNACK: the gateway reads no MQTT from them), and a revoked one is refused at CONNECT.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describeRun, needsCommand, runCommand } from '../support/commands.js';
import { startGatewayBed, type DeviceFiles, type GatewayBed } from '../support/gateway-bed.js';

const skip = needsCommand('mosquitto_pub', 'apt-get install mosquitto-clients');
const HUB = 'urn:dev:ops:acme-hub-0001';
let bed: GatewayBed;
let hub: DeviceFiles;

before(async () => {
  if (skip) return;
  // The hub's model may read every device's state: the home's automations.
  bed = await startGatewayBed({ gatewayYaml: { acl: { models: { 'acme-hub': { subscribe: ['hearth/+/state'], publish: [] } } } } });
  hub = await bed.issueDevice(HUB);
});

after(async () => {
  await bed?.close();
});

const connection = (device?: DeviceFiles) => [
  '-h',
  'localhost',
  '-p',
  String(bed.gateway.mqttPort),
  '--cafile',
  bed.rootFile,
  ...(device ? ['--cert', device.certFile, '--key', device.keyFile] : []),
];

async function pub(version: string, device: DeviceFiles | undefined, topic: string, message: string) {
  const args = [...connection(device), '-V', version, '-t', topic, '-m', message, '-q', '1', '-d'];
  return { args, result: await runCommand('mosquitto_pub', args, { env: process.env, timeoutMs: 15_000 }) };
}

/** mosquitto_sub until it has its SUBACK; resolves with the process's end (after `count` messages). */
async function sub(version: string, device: DeviceFiles, topic: string, count: number) {
  const args = [...connection(device), '-V', version, '-t', topic, '-C', String(count), '-W', '10', '-d'];
  // Line-buffered: mosquitto_sub's debug lines (its SUBACK) must reach the pipe as they happen.
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.once('exit', (code) => resolve({ code, out })));
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (out.includes('received SUBACK')) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
    void done.then(() => {
      clearInterval(poll);
      reject(new Error(`mosquitto_sub ended before subscribing:\n${out}`));
    });
  });
  return { args, done };
}

for (const version of ['mqttv5', 'mqttv311']) {
  test(`${version}: a device publishes its state and the hub, subscribed by a shared topic, receives it`, { skip }, async () => {
    const bulb = await bed.issueDevice(`urn:dev:ops:acme-bulb-${version}`);
    const subscriber = await sub(version, hub, 'hearth/+/state', 1);
    const { args, result } = await pub(version, bulb, `hearth/${bulb.deviceId}/state`, `on-${version}`);
    assert.equal(result.code, 0, describeRun('mosquitto_pub', args, result));
    assert.match(result.stdout + result.stderr, /received PUBACK \(Mid: 1, RC:0\)/);
    const received = await subscriber.done;
    assert.equal(received.code, 0, received.out);
    assert.match(received.out, new RegExp(`on-${version}`));
  });

  test(`${version}: a publish outside the device's tree is refused and reaches no one`, { skip }, async () => {
    const bulb = await bed.issueDevice(`urn:dev:ops:acme-bulb-deny-${version}`);
    const victim = `urn:dev:ops:acme-bulb-victim-${version}`;
    // The hub would receive a forged state of another device; it must get only the real one.
    const subscriber = await sub(version, hub, `hearth/${victim}/state`, 1);
    const forged = await pub(version, bulb, `hearth/${victim}/state`, 'forged');
    assert.equal(forged.result.code, 0, describeRun('mosquitto_pub', forged.args, forged.result));
    // MQTT 5 says why (0x87 Not authorized); 3.1.1 has no reason code and acknowledges (§3.3.5).
    if (version === 'mqttv5') assert.match(forged.result.stdout + forged.result.stderr, /received PUBACK \(Mid: 1, RC:135\)/);
    const victimDevice = await bed.issueDevice(victim);
    const real = await pub(version, victimDevice, `hearth/${victim}/state`, 'real');
    assert.equal(real.result.code, 0, describeRun('mosquitto_pub', real.args, real.result));
    const received = await subscriber.done;
    assert.doesNotMatch(received.out, /forged/);
    assert.match(received.out, /real/);
  });

  test(`${version}: a subscription outside the device's commands is refused`, { skip }, async () => {
    const bulb = await bed.issueDevice(`urn:dev:ops:acme-bulb-sub-${version}`);
    const args = [...connection(bulb), '-V', version, '-t', `hearth/${bulb.deviceId}/#`, '-C', '1', '-W', '5', '-d'];
    const result = await runCommand('mosquitto_sub', args, { env: process.env, timeoutMs: 15_000 });
    // mosquitto_sub reports the refusal (SUBACK 0x87 in MQTT 5, 0x80 in 3.1.1) and gives up.
    assert.match(
      result.stdout + result.stderr,
      new RegExp(`Subscribed \\(mid: 1\\): ${version === 'mqttv5' ? 135 : 128}[\\s\\S]*All subscription requests were denied`),
      describeRun('mosquitto_sub', args, result),
    );
    const allowed = [...connection(bulb), '-V', version, '-t', `hearth/${bulb.deviceId}/cmd/#`, '-C', '1', '-W', '2', '-d'];
    const ok = await runCommand('mosquitto_sub', allowed, { env: process.env, timeoutMs: 15_000 });
    assert.match(ok.stdout + ok.stderr, /Subscribed \(mid: 1\): [01]/, describeRun('mosquitto_sub', allowed, ok));
  });

  test(`${version}: no client certificate, or one from another CA, is cut off before MQTT`, { skip }, async () => {
    const none = await pub(version, undefined, 'hearth/x/state', 'x');
    assert.notEqual(none.result.code, 0, describeRun('mosquitto_pub', none.args, none.result));
    assert.doesNotMatch(none.result.stderr + none.result.stdout, /CONNACK/, describeRun('mosquitto_pub', none.args, none.result));
    // A self-made certificate naming a device: signed by no CA this gateway trusts.
    const other = await runCommand(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=stranger',
        '-addext',
        'subjectAltName=URI:urn:dev:ops:acme-bulb-stranger',
        '-days',
        '1',
        '-keyout',
        join(bed.work, `stranger-${version}.key`),
        '-out',
        join(bed.work, `stranger-${version}.pem`),
      ],
      { env: process.env, timeoutMs: 15_000 },
    );
    assert.equal(other.code, 0, other.stderr);
    const stranger = { ...hub, certFile: join(bed.work, `stranger-${version}.pem`), keyFile: join(bed.work, `stranger-${version}.key`) };
    const refused = await pub(version, stranger, 'hearth/urn:dev:ops:acme-bulb-stranger/state', 'x');
    assert.notEqual(refused.result.code, 0, describeRun('mosquitto_pub', refused.args, refused.result));
    assert.doesNotMatch(refused.result.stderr + refused.result.stdout, /CONNACK/, describeRun('mosquitto_pub', refused.args, refused.result));
  });

  test(`${version}: a revoked certificate is refused at CONNECT`, { skip }, async () => {
    const bulb = await bed.issueDevice(`urn:dev:ops:acme-bulb-revoked-${version}`);
    const before = await pub(version, bulb, `hearth/${bulb.deviceId}/state`, 'on');
    assert.equal(before.result.code, 0, describeRun('mosquitto_pub', before.args, before.result));
    await bed.revoke(bulb.serial);
    // The revocation is pushed: the next connection, moments later, is refused.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await pub(version, bulb, `hearth/${bulb.deviceId}/state`, 'on');
    assert.notEqual(after.result.code, 0, describeRun('mosquitto_pub', after.args, after.result));
    assert.match(after.result.stderr + after.result.stdout, /not authori[sz]ed/i);
  });
}

test('the gateway counts what it refused, by reason', { skip }, async () => {
  const metrics = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
  assert.match(metrics, /hearth_gateway_connections_refused_total\{reason="no-client-cert"\} [1-9]/);
  assert.match(metrics, /hearth_gateway_connections_refused_total\{reason="unknown-ca"\} [1-9]/);
  assert.match(metrics, /hearth_gateway_connections_refused_total\{reason="revoked"\} [1-9]/);
  assert.match(metrics, /hearth_gateway_acl_denials_total\{action="publish"\} [1-9]/);
  assert.match(metrics, /hearth_gateway_acl_denials_total\{action="subscribe"\} [1-9]/);
});
