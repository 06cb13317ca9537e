/**
 * Keys and identities that must not come back, against `hearth serve` with real devices (the SDK,
 * device-attest-01): a key revoked for keyCompromise (through REST or ACME revokeCert signed by
 * the certificate key) is refused on every issuance path (REST and `hearth cert issue`, ACME
 * finalize, the SDK's renewal) and raises security.blocked_key; the SDK then attests a new key. A
 * device enrolling again with a new key supersedes the earlier key's certificates, raises
 * security.rekeyed (and security.clone_suspected while the earlier key is seen at a gateway), and
 * counts the re-key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from 'node:https';
import { AcmeClient, AcmeProblemError } from '../../src/device/acme-client.js';
import { createKeyAndRequest, createRequestForKey } from '../../src/pki/certificate-request.js';
import type { DeviceEvent } from '../../src/device/device-agent.js';
import { FileIdentityStore, MemoryIdentityStore, type DeviceIdentityStore } from '../../src/device/identity-store.js';
import { pemDecodeAll, pemEncode } from '../../src/pki/certificate-assembly.js';
import { startZeroTouchBed, type ZeroTouchBed } from '../support/zero-touch.js';

let bed: ZeroTouchBed;
const scratch = mkdtempSync(join(tmpdir(), 'hearth-keys-'));

before(async () => {
  bed = await startZeroTouchBed({ count: 4 });
});

after(async () => {
  await bed?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const device = (i: number) => bed.devices[i] as (typeof bed.devices)[number];

interface CertificateView {
  serial: string;
  state: string;
  revocationReason: string | null;
}

async function certificates(deviceId: string): Promise<CertificateView[]> {
  return (await bed.server.client.call<{ items: CertificateView[] }>('GET', `/api/v1/certificates?identifier=${encodeURIComponent(deviceId)}&limit=100`)).items;
}

async function events(type: string, deviceId: string): Promise<{ detail: Record<string, unknown> }[]> {
  return (
    await bed.server.client.call<{ events: { detail: Record<string, unknown> }[] }>(
      'GET',
      `/api/v1/security-events?type=${type}&device=${encodeURIComponent(deviceId)}`,
    )
  ).events;
}

/** A device store holding a given operational key and no certificate; `replaceable: false` is a secure element that cannot make keys. */
function storeWithKey(key: KeyObject, replaceable: boolean): DeviceIdentityStore {
  if (replaceable) {
    const dir = join(scratch, randomUUID());
    const store = new FileIdentityStore(dir);
    writeFileSync(join(dir, 'device.key.pem'), key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    return store;
  }
  const memory = new MemoryIdentityStore();
  return {
    key: async (name) => (name === 'device' ? key : memory.key(name)),
    readState: () => memory.readState(),
    writeState: (state) => memory.writeState(state),
    readCertificate: () => memory.readCertificate(),
    writeCertificate: (pem) => memory.writeCertificate(pem),
  };
}

test('a key revoked for keyCompromise is refused on every issuance path, and the SDK then attests a new key', async () => {
  const target = device(0);
  const firstStore = new MemoryIdentityStore();
  const first = await bed.agent(target, { store: firstStore }).ensureCertificate();
  const compromised = await firstStore.key('device');
  const revoke = bed.cli(['cert', 'revoke', first.serial, '--reason', 'keyCompromise', '--dir', bed.installation.dir]);
  assert.equal(revoke.status, 0, revoke.stderr);

  // REST, through the CLI.
  const csr = createRequestForKey(compromised, { commonName: target.deviceId, uris: [target.deviceId] });
  const csrFile = join(scratch, 'compromised.csr.pem');
  writeFileSync(csrFile, pemEncode('CERTIFICATE REQUEST', csr));
  const issue = bed.cli(['cert', 'issue', '--csr', csrFile, '--profile', 'device', '--dir', bed.installation.dir]);
  assert.notEqual(issue.status, 0);
  assert.match(issue.stderr, /400 .*revoked for keyCompromise/);

  // ACME finalize through the SDK, on a store that cannot make keys: refused, and the device stops.
  await assert.rejects(
    bed.agent(target, { store: storeWithKey(compromised, false) }).ensureCertificate(),
    (error: unknown) => error instanceof AcmeProblemError && error.type === 'badPublicKey',
  );
  assert.deepEqual(
    (await certificates(target.deviceId)).map((c) => c.state),
    ['revoked'],
    'nothing was issued for the blocked key',
  );
  const blocked = await events('security.blocked_key', target.deviceId);
  assert.equal(blocked.length, 2, 'each refusal raised security.blocked_key');
  assert.equal(blocked[0]?.detail.blockedBy, first.serial);

  // The SDK with a store that can make keys: refused once, then it attests a new key and enrolls.
  const seen: DeviceEvent[] = [];
  const recovered = await bed.agent(target, { store: storeWithKey(compromised, true), onEvent: (e) => seen.push(e) }).ensureCertificate();
  assert.ok(seen.some((e) => e.type === 'key-replaced'));
  const [leaf] = pemDecodeAll(recovered.certificatePem, 'CERTIFICATE');
  assert.ok(leaf);
  assert.ok(!createPublicKey({ key: recovered.keyPem }).equals(createPublicKey(compromised)), 'a new key');
  assert.equal((await certificates(target.deviceId)).filter((c) => c.state === 'issued').length, 1);
});

test('ACME revokeCert signed by the certificate key with keyCompromise blocks the key too', async () => {
  const target = device(1);
  const store = new MemoryIdentityStore();
  const issued = await bed.agent(target, { store }).ensureCertificate();
  const key = await store.key('device');
  const [der] = pemDecodeAll(issued.certificatePem, 'CERTIFICATE');
  const byCertificateKey = new AcmeClient(bed.transport, bed.directoryUrl, key);
  const directory = await byCertificateKey.directory();
  const answer = await byCertificateKey.post(
    directory.revokeCert as string,
    { certificate: Buffer.from(der as Uint8Array).toString('base64url'), reason: 1 },
    { useJwk: true },
  );
  assert.equal(answer.status, 200);
  await assert.rejects(
    bed.agent(target, { store: storeWithKey(key, false) }).ensureCertificate(),
    (error: unknown) => error instanceof AcmeProblemError && error.type === 'badPublicKey',
  );
});

/** Posts one telemetry message for the device through a registered gateway, as its uplink does. */
async function seenAtGateway(deviceId: string): Promise<void> {
  const name = `gw-${randomUUID().slice(0, 8)}.localhost`;
  await bed.server.client.call('POST', '/api/v1/gateways', { name });
  const csr = await createKeyAndRequest({ dnsNames: [name] });
  const view = await bed.server.client.call<{ certificate: string }>('POST', '/api/v1/certificates', { csr: csr.csrPem, profile: 'gateway' });
  const body = JSON.stringify({
    messages: [{ id: randomUUID(), deviceId, topic: `hearth/${deviceId}/t`, payload: '', qos: 1, publishedAt: new Date().toISOString() }],
  });
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      `${bed.directoryUrl.replace('/acme/directory', '')}/api/v1/ingest`,
      {
        method: 'POST',
        ca: bed.rootPem,
        key: csr.privateKeyPem,
        cert: view.certificate + readFileSync(join(bed.installation.dir, 'ca/services.pem'), 'utf8'),
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(status, 200);
}

test('enrolling again with a new key supersedes the earlier certificates, raises security.rekeyed, and security.clone_suspected while the earlier key is seen', async () => {
  const target = device(2);
  const original = await bed.agent(target, { store: new MemoryIdentityStore() }).ensureCertificate();
  // A factory reset: the same factory identity, a new operational key.
  const reset = await bed.agent(target, { store: new MemoryIdentityStore() }).ensureCertificate();
  const after = await certificates(target.deviceId);
  assert.deepEqual(
    after.find((c) => c.serial === original.serial),
    { ...after.find((c) => c.serial === original.serial), state: 'revoked', revocationReason: 'superseded' },
  );
  assert.equal(after.find((c) => c.serial === reset.serial)?.state, 'issued');
  const rekeyed = await events('security.rekeyed', target.deviceId);
  assert.equal(rekeyed.length, 1);
  assert.deepEqual(rekeyed[0]?.detail.superseded, [original.serial]);
  assert.equal((await events('security.clone_suspected', target.deviceId)).length, 0, 'not seen at any gateway: no clone suspected');
  // A renewal with the same key is no re-key.
  const enrollment = await bed.server.client.call<{ rekeys: number }>('GET', `/api/v1/devices/${encodeURIComponent(target.deviceId)}`);
  assert.equal(enrollment.rekeys, 1);

  // The device is connected through a gateway; a clone made from the extracted factory key enrolls.
  await seenAtGateway(target.deviceId);
  const clone = await bed.agent(target, { store: new MemoryIdentityStore() }).ensureCertificate();
  const suspected = await events('security.clone_suspected', target.deviceId);
  assert.equal(suspected.length, 1);
  assert.equal(suspected[0]?.detail.reason, 'rekeyed-while-connected');
  assert.equal(
    (await certificates(target.deviceId)).find((c) => c.serial === reset.serial)?.state,
    'revoked',
    "the connected key's certificate is superseded: gateways cut it off",
  );
  assert.equal((await bed.server.client.call<{ rekeys: number }>('GET', `/api/v1/devices/${encodeURIComponent(target.deviceId)}`)).rekeys, 2);
  assert.notEqual(clone.serial, reset.serial);
});
