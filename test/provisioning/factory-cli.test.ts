/** The built `hearth factory` commands end to end, checked with openssl and the manifest verifier. */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsOpenssl } from '../support/environment.js';
import { openssl, runCli } from '../support/hearth-process.js';
import { verifyManifest } from '../../src/provisioning/factory/batch-manifest.js';
import { decodeDeviceModel, OID_HEARTH_DEVICE_MODEL } from '../../src/provisioning/factory/device-model-extension.js';
import { parseSetupCode } from '../../src/provisioning/factory/setup-code.js';
import { verifySetupCode } from '../../src/provisioning/factory/setup-code-hash.js';
import * as x509 from '@peculiar/x509';

const PASSPHRASE = 'factory test passphrase';
const env = { ...process.env, HEARTH_FACTORY_PASSPHRASE: PASSPHRASE };
const mode = (path: string) => statSync(path).mode & 0o777;

test('factory init and batch make a chain openssl verifies and a manifest that names every device', { skip: await needsOpenssl() }, async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-factory-'));
  t.after(() => rm(parent, { recursive: true, force: true }));
  const factory = join(parent, 'factory');
  const batch = join(parent, 'batch');

  const init = runCli(['factory', 'init', '--manufacturer', 'Acme', '--country', 'US', '--out', factory], env);
  assert.equal(init.status, 0, init.stderr);
  for (const key of ['root', 'intermediate', 'manifest']) {
    const path = join(factory, 'private', `${key}.key.pem`);
    assert.equal(mode(path), 0o600, path);
    assert.match(readFileSync(path, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    assert.equal(openssl(['pkey', '-in', path, '-passin', `pass:${PASSPHRASE}`, '-noout']).status, 0, `${key} key decrypts with the passphrase`);
    assert.notEqual(openssl(['pkey', '-in', path, '-passin', 'pass:wrong', '-noout']).status, 0, `${key} key is encrypted`);
  }
  assert.equal(mode(join(factory, 'private')), 0o700);
  const description = JSON.parse(readFileSync(join(factory, 'factory.json'), 'utf8')) as { manufacturer: string; files: Record<string, string> };
  assert.equal(description.manufacturer, 'Acme');
  assert.equal(description.files.root, 'root.pem');
  assert.equal(description.files.manifestPublicKey, 'manifest-key.pub');

  const root = new X509Certificate(readFileSync(join(factory, 'root.pem')));
  const intermediate = new X509Certificate(readFileSync(join(factory, 'intermediate.pem')));
  assert.equal(root.ca, true);
  assert.ok(root.checkIssued(root) && intermediate.checkIssued(root) && intermediate.verify(root.publicKey));
  const rootText = openssl(['x509', '-in', join(factory, 'root.pem'), '-noout', '-text']).out;
  assert.match(rootText, /CA:TRUE, pathlen:1/);
  assert.match(rootText, /Certificate Sign, CRL Sign/);
  assert.match(openssl(['x509', '-in', join(factory, 'intermediate.pem'), '-noout', '-text']).out, /CA:TRUE, pathlen:0/);

  // init never overwrites a factory, and the refusal leaves it exactly as it was.
  const before = readFileSync(join(factory, 'private', 'root.key.pem'));
  const again = runCli(['factory', 'init', '--manufacturer', 'Acme', '--country', 'US', '--out', factory], env);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already holds a factory \(factory\.json\); refusing to overwrite it/);
  assert.deepEqual(readFileSync(join(factory, 'private', 'root.key.pem')), before);

  const made = runCli(['factory', 'batch', '--dir', factory, '--model', 'thermo1', '--count', '5', '--out', batch, '--first-serial', 'SN-0098'], env);
  assert.equal(made.status, 0, made.stderr);
  const serials = ['SN-0098', 'SN-0099', 'SN-0100', 'SN-0101', 'SN-0102'];
  assert.deepEqual(readdirSync(join(batch, 'devices')).sort(), serials);

  const manifestBytes = readFileSync(join(batch, 'manifest.json'));
  const manifest = verifyManifest(manifestBytes, readFileSync(join(batch, 'manifest.sig')), readFileSync(join(factory, 'manifest-key.pub'), 'utf8'));
  assert.equal(manifest.manufacturer, 'Acme');
  assert.equal(manifest.model, 'thermo1');
  assert.deepEqual(
    manifest.devices.map((d) => d.serial),
    serials,
  );
  // openssl checks the detached Ed25519 signature over the very bytes on disk, independently of Hearth.
  const pkeyutl = openssl([
    'pkeyutl',
    '-verify',
    '-pubin',
    '-inkey',
    join(factory, 'manifest-key.pub'),
    '-rawin',
    '-in',
    join(batch, 'manifest.json'),
    '-sigfile',
    join(batch, 'manifest.sig'),
  ]);
  assert.equal(pkeyutl.status, 0, pkeyutl.out);

  for (const device of manifest.devices) {
    const dir = join(batch, 'devices', device.serial);
    const certPath = join(dir, 'cert.pem');
    const verified = openssl(['verify', '-CAfile', join(factory, 'root.pem'), '-untrusted', join(factory, 'intermediate.pem'), certPath]);
    assert.equal(verified.status, 0, verified.out);
    assert.match(verified.out, /: OK/);
    const certificate = new X509Certificate(readFileSync(certPath));
    assert.equal(device.factoryCertSha256, createHash('sha256').update(certificate.raw).digest('hex'));
    // WebAuthn §8.2.1: C, O, OU "Authenticator Attestation" and CN.
    assert.equal(certificate.subject, `C=US\nO=Acme\nOU=Authenticator Attestation\nCN=${device.serial}\nserialNumber=${device.serial}`);
    assert.equal(certificate.ca, false);
    assert.equal(mode(join(dir, 'key.pem')), 0o600);
    assert.equal(mode(join(dir, 'setup-code.txt')), 0o600);
    assert.ok(certificate.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(join(dir, 'key.pem')))), 'key.pem belongs to cert.pem');
    const extension = new x509.X509Certificate(readFileSync(certPath, 'utf8')).getExtension(OID_HEARTH_DEVICE_MODEL);
    assert.ok(extension && !extension.critical);
    assert.equal(decodeDeviceModel(extension.value), 'thermo1');
    assert.equal(readFileSync(join(dir, 'chain.pem'), 'utf8'), readFileSync(certPath, 'utf8') + readFileSync(join(factory, 'intermediate.pem'), 'utf8'));
    const setup = readFileSync(join(dir, 'setup-code.txt'), 'utf8');
    const qr = new RegExp(`QR payload  HEARTH:1:${device.serial}:([2-9A-HJ-NP-Z]{10})`).exec(setup)?.[1];
    assert.ok(qr, setup);
    assert.equal(await verifySetupCode(parseSetupCode(qr), device.setupCodeHash), true);
  }
  assert.equal(mode(join(batch, 'labels.csv')), 0o600);
  assert.equal(readFileSync(join(batch, 'labels.csv'), 'utf8').trim().split('\n').length, 6);

  // A second batch into the same directory is refused without touching it.
  const second = runCli(['factory', 'batch', '--dir', factory, '--model', 'thermo1', '--count', '1', '--out', batch], env);
  assert.equal(second.status, 1);
  assert.match(second.stderr, /already holds a batch \(manifest\.json\)/);
  assert.deepEqual(readFileSync(join(batch, 'manifest.json')), manifestBytes);

  // Bad input: a precise message and nothing written.
  const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--model', 'thermo-1', '--count', '5'], env, /model "thermo-1" may contain only letters, digits, "\.", "_" and "~"/],
    [['--model', 'x'.repeat(25), '--count', '5'], env, /model "x+" is longer than 24 characters/],
    [['--model', 'thermo1', '--count', '0'], env, /count 0 is outside 1\.\.100000/],
    [['--model', 'thermo1', '--count', '100001'], env, /count 100001 is outside 1\.\.100000/],
    [['--model', 'thermo1', '--count', '5x'], env, /count "5x" is not a whole number/],
    [['--model', 'thermo1', '--count', '2', '--first-serial', 'SN:01'], env, /serial "SN:01" must be letters, digits/],
    [['--model', 'thermo1', '--count', '2', '--first-serial', 'SN-01A'], env, /must .*end with a digit/],
    [
      ['--model', 'thermo1', '--count', '3', '--first-serial', 'SN-98'],
      env,
      /first serial "SN-98" leaves room for only 2 serials in its 2 trailing digits, not 3/,
    ],
    [
      ['--model', 'm'.repeat(24), '--count', '1', '--first-serial', `S${'1'.repeat(31)}`],
      env,
      /device identifier urn:dev:ops:Acme-m{24}-S1{31} is 74 characters, more than 64/,
    ],
    [
      ['--model', 'thermo1', '--count', '1'],
      { ...env, HEARTH_FACTORY_PASSPHRASE: 'wrong' },
      /cannot decrypt key file .*intermediate\.key\.pem: wrong passphrase/,
    ],
    [['--model', 'thermo1', '--count', '1'], { ...process.env, HEARTH_FACTORY_PASSPHRASE: undefined }, /need a passphrase: set HEARTH_FACTORY_PASSPHRASE/],
  ];
  for (const [args, environment, message] of bad) {
    const out = join(parent, 'refused');
    const result = runCli(['factory', 'batch', '--dir', factory, '--out', out, ...args], environment);
    assert.equal(result.status, 1, `${args.join(' ')}: ${result.stdout}`);
    assert.match(result.stderr, message, args.join(' '));
    assert.equal(existsSync(out), false, `${args.join(' ')} wrote ${out}`);
  }
  const notFactory = runCli(['factory', 'batch', '--dir', batch, '--model', 'thermo1', '--count', '1', '--out', join(parent, 'refused')], env);
  assert.match(notFactory.stderr, /is not a factory directory: it has no factory\.json/);
  assert.equal(existsSync(join(parent, 'refused')), false);
});

test('factory init refuses bad names and a non-empty directory, writing nothing', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-factory-'));
  t.after(() => rm(parent, { recursive: true, force: true }));
  const out = join(parent, 'factory');
  const badName = runCli(['factory', 'init', '--manufacturer', 'Acme Devices', '--country', 'US', '--out', out], env);
  assert.equal(badName.status, 1);
  assert.match(badName.stderr, /manufacturer "Acme Devices" may contain only letters, digits/);
  const noPassphrase = runCli(['factory', 'init', '--manufacturer', 'Acme', '--country', 'US', '--out', out], {
    ...process.env,
    HEARTH_FACTORY_PASSPHRASE: undefined,
  });
  assert.match(noPassphrase.stderr, /need a passphrase/);
  const bothSources = runCli(
    ['factory', 'init', '--manufacturer', 'Acme', '--country', 'US', '--out', out, '--passphrase-env', 'X', '--passphrase-file', 'f'],
    env,
  );
  assert.match(bothSources.stderr, /either --passphrase-env or --passphrase-file, not both/);
  assert.equal(existsSync(out), false);

  const occupied = join(parent, 'occupied');
  const passphraseFile = join(parent, 'passphrase');
  writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  await import('node:fs/promises').then((fs) => fs.mkdir(occupied));
  writeFileSync(join(occupied, 'notes.txt'), 'keep me');
  const refused = runCli(['factory', 'init', '--manufacturer', 'Acme', '--country', 'US', '--out', occupied, '--passphrase-file', passphraseFile], env);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /exists and is not empty/);
  assert.deepEqual(readdirSync(occupied), ['notes.txt']);
});
