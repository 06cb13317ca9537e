/**
 * Every bad input of zero-touch provisioning against `hearth serve`: an unknown root, an expired
 * factory certificate, a serial in no manifest, an attestation over another key authorization
 * (and a replayed one), a CSR for another key than the attested one, a cloned serial, manifests
 * with a bad signature, an unknown manufacturer or known serials, wrong setup codes, and under an
 * enrollment group one device's genuine factory certificate presented for another serial. Each
 * gets its precise error, raises a security event and leaves the store as it was.
 */
import { get as httpsGet } from 'node:https';
import 'reflect-metadata';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AcmeClient, AcmeProblemError } from '../../src/device/acme-client.js';
import { orderCertificate, type ChallengeSolver } from '../../src/device/certificate-order.js';
import { createRequestForKey } from '../../src/pki/certificate-request.js';
import { readFactoryCredentials, type BatchDevice } from '../../src/device/factory-credentials.js';
import type { FactoryCredentials } from '../../src/device/device-agent.js';
import { encodePackedAttestation, keyObjectSigner } from '../../src/protocols/packed-attestation.js';
import { openFactory } from '../../src/provisioning/factory/factory-directory.js';
import { createFactoryCertificate, generateDeviceKeys } from '../../src/provisioning/factory/attestation-certificates.js';
import { FACTORY_PASSPHRASE, startZeroTouchBed, type ZeroTouchBed } from '../support/zero-touch.js';

let bed: ZeroTouchBed;

before(async () => {
  bed = await startZeroTouchBed({ count: 6 });
});

after(async () => {
  await bed?.stop();
});

const device = (i: number): BatchDevice => bed.devices[i] as BatchDevice;

interface SecurityEvent {
  type: string;
  deviceId: string | null;
  detail: Record<string, unknown>;
}

async function events(deviceId: string): Promise<SecurityEvent[]> {
  return (await bed.server.client.call<{ events: SecurityEvent[] }>('GET', `/api/v1/security-events?device=${encodeURIComponent(deviceId)}`)).events;
}

async function certificatesOf(deviceId: string): Promise<number> {
  return (await bed.server.client.call<{ items: unknown[] }>('GET', `/api/v1/certificates?identifier=${encodeURIComponent(deviceId)}&limit=100`)).items.length;
}

async function enrollment(deviceId: string): Promise<Record<string, unknown>> {
  return bed.server.client.call('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}`);
}

function client(): AcmeClient {
  return new AcmeClient(bed.transport, bed.directoryUrl, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
}

interface Attempt {
  factory: FactoryCredentials;
  /** What the attestation signs over instead of the challenge's key authorization. */
  keyAuthorization?: (real: string) => string;
  /** The attested key, and the key the CSR carries. */
  attestedKey?: KeyObject;
  csrKey?: KeyObject;
  /** A ready-made attObj to send instead of a fresh one (a replay). */
  attObj?: string;
  onAttObj?: (attObj: string) => void;
  /** Runs once the order is ready, just before finalize (what happens while an order waits). */
  beforeFinalize?: () => Promise<void> | void;
}

/** One device-attest-01 order with the parts a test wants wrong; resolves to the PEM or rejects with the problem. */
async function attempt(deviceId: string, spec: Attempt): Promise<string> {
  const acme = client();
  await acme.account();
  const attested = spec.attestedKey ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const solver: ChallengeSolver = {
    type: 'device-attest-01',
    prepare: async (_challenge, _authz, keyAuthorization) => {
      const attObj =
        spec.attObj ??
        Buffer.from(
          await encodePackedAttestation({
            signer: spec.factory.signer,
            chain: spec.factory.chain,
            credentialKey: createPublicKey(attested),
            identifier: deviceId,
            keyAuthorization: spec.keyAuthorization ? spec.keyAuthorization(keyAuthorization) : keyAuthorization,
          }),
        ).toString('base64url');
      spec.onAttObj?.(attObj);
      return { attObj };
    },
  };
  const { pem } = await orderCertificate(acme, {
    identifiers: [{ type: 'permanent-identifier', value: deviceId }],
    solver,
    csr: async () => {
      await spec.beforeFinalize?.();
      return createRequestForKey(spec.csrKey ?? attested, { commonName: deviceId, uris: [deviceId] });
    },
  });
  return pem;
}

async function refused(promise: Promise<unknown>, type: string, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AcmeProblemError, String(error));
    assert.equal(error.type, type, error.message);
    assert.match(error.message, detail);
    return true;
  });
}

/** A factory certificate made with the manufacturer's real intermediate, for a key and a time of the test's choosing. */
async function forgedFactoryCredentials(serial: string, now: Date): Promise<FactoryCredentials> {
  const factory = await openFactory(bed.factoryDir, FACTORY_PASSPHRASE);
  const keys = await generateDeviceKeys();
  const certificate = await createFactoryCertificate({
    manufacturer: bed.manufacturer,
    country: 'US',
    model: bed.model,
    serial,
    publicKey: keys.publicKey,
    intermediate: factory.intermediate,
    intermediateKey: factory.intermediateKey,
    now,
  });
  return {
    chain: [new Uint8Array(certificate.rawData), new Uint8Array(factory.intermediate.rawData)],
    signer: keyObjectSigner(KeyObject.from(keys.privateKey)),
  };
}

test('a chain to a root no manufacturer registered is refused', async () => {
  const other = join(bed.installation.dir, '..', 'other-factory');
  const otherBatch = join(bed.installation.dir, '..', 'other-batch');
  assert.equal(bed.cli(['factory', 'init', '--manufacturer', bed.manufacturer, '--country', 'US', '--out', other]).status, 0);
  assert.equal(
    bed.cli(['factory', 'batch', '--dir', other, '--model', bed.model, '--count', '1', '--out', otherBatch, '--first-serial', device(0).serial]).status,
    0,
  );
  await refused(
    attempt(device(0).deviceId, { factory: readFactoryCredentials(otherBatch, device(0).serial) }),
    'badAttestationStatement',
    /does not lead to a registered manufacturer root/,
  );
  assert.equal(await certificatesOf(device(0).deviceId), 0);
  assert.equal((await enrollment(device(0).deviceId)).state, 'expected');
  assert.ok((await events(device(0).deviceId)).some((e) => e.type === 'security.attestation_failed' && e.detail.reason === 'unknown-root'));
});

test('an expired factory certificate is refused', async () => {
  const longAgo = new Date(Date.now() - 21 * 365.25 * 86400_000);
  await refused(
    attempt(device(1).deviceId, { factory: await forgedFactoryCredentials(device(1).serial, longAgo) }),
    'badAttestationStatement',
    /the factory certificate expired/,
  );
  assert.equal(await certificatesOf(device(1).deviceId), 0);
  assert.ok((await events(device(1).deviceId)).some((e) => e.detail.reason === 'expired'));
});

test('a serial in no imported manifest is refused at newOrder', async () => {
  const stranger = `urn:dev:ops:${bed.manufacturer}-${bed.model}-SN-999999`;
  await refused(attempt(stranger, { factory: await forgedFactoryCredentials('SN-999999', new Date()) }), 'rejectedIdentifier', /is in no imported manifest/);
  assert.ok((await events(stranger)).some((e) => e.type === 'security.unknown_device'));
  await assert.rejects(enrollment(stranger), /404/);
});

test('an attestation over another key authorization, and a replayed attestation, are refused', async () => {
  const factory = readFactoryCredentials(bed.batchDir, device(2).serial);
  await refused(
    attempt(device(2).deviceId, { factory, keyAuthorization: (real) => `${real}x` }),
    'badAttestationStatement',
    /does not verify over this challenge's key authorization/,
  );
  let captured = '';
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await attempt(device(2).deviceId, { factory, attestedKey: key, onAttObj: (attObj) => (captured = attObj) });
  assert.equal(await certificatesOf(device(2).deviceId), 1);
  // The same attestation object for a new challenge: its signature covers the old token.
  await refused(
    attempt(device(2).deviceId, { factory, attestedKey: key, attObj: captured }),
    'badAttestationStatement',
    /does not verify over this challenge's key authorization/,
  );
  assert.equal(await certificatesOf(device(2).deviceId), 1);
  assert.equal((await events(device(2).deviceId)).filter((e) => e.detail.reason === 'bad-signature').length, 2);
});

test('a CSR carrying another key than the attested one is refused, and the order stays ready', async () => {
  const factory = readFactoryCredentials(bed.batchDir, device(3).serial);
  await refused(
    attempt(device(3).deviceId, { factory, csrKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }),
    'badCSR',
    /is not the key the device attested/,
  );
  assert.equal(await certificatesOf(device(3).deviceId), 0);
  assert.equal((await enrollment(device(3).deviceId)).state, 'expected');
});

test('a revoked factory certificate cuts its device off at once: its live certificates are revoked, and it can neither enroll nor renew', async () => {
  const target = device(3);
  await attempt(target.deviceId, { factory: readFactoryCredentials(bed.batchDir, target.serial) });
  const [live] = (
    await bed.server.client.call<{ items: { serial: string; state: string }[] }>(
      'GET',
      `/api/v1/certificates?identifier=${encodeURIComponent(target.deviceId)}&limit=10`,
    )
  ).items;
  assert.equal(live?.state, 'issued');
  const certFile = join(bed.batchDir, 'devices', target.serial, 'cert.pem');
  const wrongReason = bed.cli(['manufacturer', 'revoke-factory-cert', bed.manufacturer, certFile, '--reason', 'key leaked', '--dir', bed.installation.dir]);
  assert.notEqual(wrongReason.status, 0, 'a reason is an RFC 5280 name');
  assert.match(wrongReason.stderr, /keyCompromise, cessationOfOperation/);
  let revoke = { status: null as number | null, stdout: '', stderr: '' };
  // An order attested before the revocation and finalized after it: the cut-off wins.
  await refused(
    attempt(target.deviceId, {
      factory: readFactoryCredentials(bed.batchDir, target.serial),
      beforeFinalize: () => {
        revoke = bed.cli(['manufacturer', 'revoke-factory-cert', bed.manufacturer, certFile, '--reason', 'keyCompromise', '--dir', bed.installation.dir]);
      },
    }),
    'unauthorized',
    /is cut off: factory certificate [0-9a-f]{64} revoked \(keyCompromise\)/,
  );
  assert.equal(revoke.status, 0, revoke.stderr);
  assert.match(revoke.stdout, /^revoked factory certificate [0-9a-f]{64} \(keyCompromise\)$/m);
  assert.match(revoke.stdout, new RegExp(`^cut off ${target.deviceId}$`, 'm'));
  const after = await bed.server.client.call<{ state: string; revocationReason: string | null }>('GET', `/api/v1/certificates/${live?.serial}`);
  assert.equal(after.state, 'revoked', "the device's live certificate is revoked with its factory certificate");
  assert.equal(after.revocationReason, 'keyCompromise');
  const cutOff = await enrollment(target.deviceId);
  assert.equal(cutOff.state, 'cut-off');
  assert.match(String(cutOff.stateReason), /factory certificate [0-9a-f]{64} revoked \(keyCompromise\)/);
  assert.match(bed.cli(['manufacturer', 'revoke-factory-cert', bed.manufacturer, certFile, '--dir', bed.installation.dir]).stdout, /was revoked already/);
  await refused(
    attempt(target.deviceId, { factory: readFactoryCredentials(bed.batchDir, target.serial) }),
    'badAttestationStatement',
    /the factory certificate was revoked at .* \(keyCompromise\)/,
  );
  assert.equal(await certificatesOf(target.deviceId), 1, 'no certificate beside the revoked one');
  assert.ok((await events(target.deviceId)).some((e) => e.detail.reason === 'revoked'));
  const bad = bed.cli(['manufacturer', 'revoke-factory-cert', bed.manufacturer, 'AB'.repeat(32), '--dir', bed.installation.dir]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /400 .*64 lower-case hex digits/);
});

test('the same serial attested with another factory key is refused as a suspected clone', async () => {
  // The genuine device enrolls first; the clone has a valid certificate from the same intermediate.
  await attempt(device(4).deviceId, { factory: readFactoryCredentials(bed.batchDir, device(4).serial) });
  const before = await enrollment(device(4).deviceId);
  await refused(
    attempt(device(4).deviceId, { factory: await forgedFactoryCredentials(device(4).serial, new Date()) }),
    'unauthorized',
    /suspected to be a clone/,
  );
  assert.deepEqual(await enrollment(device(4).deviceId), before);
  assert.equal(await certificatesOf(device(4).deviceId), 1);
  const clone = (await events(device(4).deviceId)).find((e) => e.type === 'security.clone_suspected');
  assert.ok(clone, 'a clone_suspected event');
  assert.equal(clone.detail.expectedFactoryCertSha256, before.factoryCertSha256);
  const cli = bed.cli(['security', 'events', '--type', 'security.clone_suspected', '--dir', bed.installation.dir]);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(device(4).deviceId.replace(/[.]/g, '\\.')));
});

test('manifests with a bad signature, from an unknown manufacturer or naming known serials are refused whole', async () => {
  const parent = join(bed.installation.dir, '..');
  const tampered = join(parent, 'tampered');
  mkdirSync(tampered);
  copyFileSync(join(bed.batchDir, 'manifest.json'), join(tampered, 'manifest.json'));
  const signature = readFileSync(join(bed.batchDir, 'manifest.sig'));
  signature[0] = (signature[0] as number) ^ 1;
  writeFileSync(join(tampered, 'manifest.sig'), signature);
  const bad = bed.cli(['enroll', 'import', tampered, '--dir', bed.installation.dir]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /manifest signature does not verify with the manifest key registered for Acme: refusing the whole manifest/);

  const globex = join(parent, 'globex');
  assert.equal(bed.cli(['factory', 'init', '--manufacturer', 'Globex', '--country', 'US', '--out', globex]).status, 0);
  assert.equal(bed.cli(['factory', 'batch', '--dir', globex, '--model', 'cam1', '--count', '1', '--out', join(parent, 'globex-batch')]).status, 0);
  const unknown = bed.cli(['enroll', 'import', join(parent, 'globex-batch'), '--dir', bed.installation.dir]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /manufacturer "Globex", which is not registered/);

  // A second batch whose serials overlap the first: nothing of it is imported.
  const overlap = join(parent, 'overlap');
  assert.equal(
    bed.cli(['factory', 'batch', '--dir', bed.factoryDir, '--model', 'plug2', '--count', '8', '--out', overlap, '--first-serial', 'SN-000005']).status,
    0,
  );
  const summaryBefore = await bed.server.client.call('GET', '/api/v1/enrollments/summary');
  const conflict = bed.cli(['enroll', 'import', overlap, '--dir', bed.installation.dir]);
  assert.equal(conflict.status, 2);
  assert.match(
    conflict.stderr,
    /2 of the manifest's serials are already known for Acme: SN-000005 \(batch [0-9a-f]{32}\), SN-000006 \(batch [0-9a-f]{32}\); nothing was imported/,
  );
  assert.deepEqual(await bed.server.client.call('GET', '/api/v1/enrollments/summary'), summaryBefore);
  await assert.rejects(enrollment(`urn:dev:ops:Acme-plug2-SN-000007`), /404/);
  const refusals = (await bed.server.client.call<{ events: SecurityEvent[] }>('GET', '/api/v1/security-events?type=security.manifest_refused')).events;
  const collision = refusals.find((e) => e.detail.reason === 'conflict');
  assert.ok(collision, 'a manifest naming known serials raises security.manifest_refused');
  assert.deepEqual(collision.detail.serials, ['SN-000005', 'SN-000006']);
});

test('claims: wrong setup codes are counted and rate-limited; a claimed device stays with its home until released', async () => {
  const target = device(5);
  const code = readFileSync(join(bed.batchDir, 'devices', target.serial, 'setup-code.txt'), 'utf8').match(/setup code\s+(\S+)/)?.[1] as string;
  const wrongCode = code.startsWith('2') ? `3${code.slice(1)}` : `2${code.slice(1)}`;
  const claim = (home: string, setupCode: string) =>
    bed.cli(['device', 'claim', target.deviceId, '--home', home, '--code', setupCode, '--dir', bed.installation.dir]);
  // A claim binds the device to a home that exists; one that does not is refused before any code is checked.
  const nowhere = claim('home-9', code);
  assert.match(nowhere.stderr, /404 .*no home home-9/);
  for (const home of ['home-1', 'home-2', 'home-3']) assert.equal(bed.cli(['home', 'create', home, '--dir', bed.installation.dir]).status, 0);
  // A typo the check character catches is refused as such, and not counted.
  const typo = claim('home-1', wrongCode);
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /check character does not match/);
  // A wrong code with a correct check character: another device's.
  const validButWrong = readFileSync(join(bed.batchDir, 'devices', device(0).serial, 'setup-code.txt'), 'utf8').match(/setup code\s+(\S+)/)?.[1] as string;
  const wrong = claim('home-1', validButWrong);
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /403 .*the setup code does not match device/);
  assert.equal((await enrollment(target.deviceId)).claimFailures, 1);
  assert.equal((await enrollment(target.deviceId)).home, null);
  assert.ok((await events(target.deviceId)).some((e) => e.type === 'security.claim_failed'));

  const good = claim('home-1', code);
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /belongs to home home-1/);
  const taken = claim('home-2', code);
  assert.equal(taken.status, 2);
  assert.match(taken.stderr, /409 .*claimed by another home/);
  assert.equal(bed.cli(['device', 'release', target.deviceId, '--home', 'home-1', '--dir', bed.installation.dir]).status, 0);
  assert.equal(claim('home-2', `HEARTH:1:${target.serial}:${code}`).status, 0, 'the QR payload works as the code');

  // Guessing: after five wrong codes in the window, even the right one is refused.
  for (let i = 0; i < 4; i++) assert.match(claim('home-3', validButWrong).stderr, /403/);
  const limited = claim('home-2', code);
  assert.equal(limited.status, 2);
  assert.match(limited.stderr, /429 .*too many wrong setup codes/);
  assert.equal((await enrollment(target.deviceId)).claimFailures, 5);

  // Forgetting the home releases the claim; the transparency log's leaves never held the home.
  const forgot = bed.cli(['home', 'forget', 'home-2', '--dir', bed.installation.dir]);
  assert.equal(forgot.status, 0, forgot.stderr);
  assert.match(forgot.stdout, /forgot home home-2: 0 member\(s\), 0 token\(s\), 1 claim\(s\) released/);
  assert.equal((await enrollment(target.deviceId)).home, null);
  const leaves: string[] = [];
  for (let start = 0; ; start += 1000) {
    const page = await getText(`${bed.server.apiUrl}/log/entries?start=${start}&end=${start + 1000}`, bed.rootPem);
    if (page.status !== 200) break;
    leaves.push(...page.text.split('\n').filter(Boolean));
  }
  assert.ok(leaves.length > 0);
  for (const home of ['home-1', 'home-2', 'home-3']) assert.ok(!leaves.some((leaf) => leaf.includes(home)), `no log leaf mentions ${home}`);
});

test('an enrollment group admits a device under the root without a manifest entry, then pins its factory key', async () => {
  const serial = 'SN-500001';
  const deviceId = `urn:dev:ops:${bed.manufacturer}-${bed.model}-${serial}`;
  const genuine = await forgedFactoryCredentials(serial, new Date());
  await refused(attempt(deviceId, { factory: genuine }), 'rejectedIdentifier', /in no imported manifest/);
  assert.equal(bed.cli(['manufacturer', 'group', bed.manufacturer, 'on', '--dir', bed.installation.dir]).status, 0);
  try {
    const pem = await attempt(deviceId, { factory: genuine });
    assert.match(pem, /BEGIN CERTIFICATE/);
    const view = await enrollment(deviceId);
    assert.equal(view.state, 'enrolled');
    assert.equal(view.batchId, null);
    await refused(attempt(deviceId, { factory: await forgedFactoryCredentials(serial, new Date()) }), 'unauthorized', /suspected to be a clone/);
  } finally {
    assert.equal(bed.cli(['manufacturer', 'group', bed.manufacturer, 'off', '--dir', bed.installation.dir]).status, 0);
  }
});

test("under an enrollment group, device A's genuine factory certificate cannot enroll as device B: badAttestationStatement, nothing enrolled or issued", async () => {
  // The group admits any serial at newOrder, so the attestation's serial check is all that stands
  // between a device's real factory credential and every other serial of its manufacturer.
  const serial = 'SN-600001';
  const target = `urn:dev:ops:${bed.manufacturer}-${bed.model}-${serial}`;
  const a = device(0);
  const aBefore = await enrollment(a.deviceId);
  assert.equal(bed.cli(['manufacturer', 'group', bed.manufacturer, 'on', '--dir', bed.installation.dir]).status, 0);
  try {
    await refused(
      attempt(target, { factory: readFactoryCredentials(bed.batchDir, a.serial) }),
      'badAttestationStatement',
      new RegExp(`the factory certificate is for serial ${a.serial}, not ${serial}`),
    );
    await assert.rejects(enrollment(target), /404/, 'no enrollment for B');
    assert.equal(await certificatesOf(target), 0, 'no certificate for B');
    assert.deepEqual(await enrollment(a.deviceId), aBefore, 'A is untouched');
    const failed = (await events(target)).filter((e) => e.type.startsWith('security.'));
    assert.deepEqual(
      failed.map((e) => [e.type, e.detail.reason, e.detail.certificateSerial]),
      [['security.attestation_failed', 'wrong-serial', a.serial]],
    );
    // B's own factory certificate enrolls it: the refusal was about whose certificate it was.
    assert.match(await attempt(target, { factory: await forgedFactoryCredentials(serial, new Date()) }), /BEGIN CERTIFICATE/);
    assert.equal(await certificatesOf(target), 1);
  } finally {
    assert.equal(bed.cli(['manufacturer', 'group', bed.manufacturer, 'off', '--dir', bed.installation.dir]).status, 0);
  }
});

function getText(url: string, ca: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    }).on('error', reject);
  });
}
