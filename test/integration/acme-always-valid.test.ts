/**
 * The load-test switch acme.alwaysValid (HEARTH_ACME_ALWAYS_VALID=true, as Pebble's
 * PEBBLE_VA_ALWAYS_VALID=1), proven both ways on two `hearth serve` processes configured alike:
 * both send http-01 validation to a loopback port where no responder runs, only a socket that
 * counts connections and closes them unanswered. With the switch, acme-client gets its
 * certificate and that port sees no connection at all; without it, the same order fails with a
 * connection error after the validator has knocked on that port.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import acme from 'acme-client';
import { initInstallation, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

/** Where validation is sent: accepts TCP connections, counts them and closes each at once. */
let silentPort: Server;
let connections = 0;

interface Bed {
  installation: Installation;
  server: RunningServer;
  directoryUrl: string;
  rootPem: string;
}

let switchedOn: Bed;
let switchedOff: Bed;

async function start(alwaysValid: boolean): Promise<Bed> {
  const installation = await initInstallation();
  installation.env.HEARTH_ACME_HTTP01_PORT = String((silentPort.address() as AddressInfo).port);
  installation.env.HEARTH_ACME_VALIDATION_ADDRESS = '127.0.0.1';
  if (alwaysValid) installation.env.HEARTH_ACME_ALWAYS_VALID = 'true';
  const server = await startServer(installation);
  return { installation, server, directoryUrl: `${server.apiUrl}/acme/directory`, rootPem: readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8') };
}

before(async () => {
  silentPort = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => silentPort.listen(0, '127.0.0.1', resolve));
  [switchedOn, switchedOff] = await Promise.all([start(true), start(false)]);
  // acme-client talks through axios' global agent, which must trust both installations' roots.
  acme.axios.defaults.httpsAgent = new Agent({ ca: [switchedOn.rootPem, switchedOff.rootPem] });
});

after(async () => {
  for (const bed of [switchedOn, switchedOff]) {
    await bed?.server.stop();
    await bed?.installation.cleanup();
  }
  await new Promise((resolve) => silentPort?.close(resolve));
});

async function account(bed: Bed): Promise<acme.Client> {
  const client = new acme.Client({ directoryUrl: bed.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey() });
  await client.createAccount({ termsOfServiceAgreed: true });
  return client;
}

const NAME = 'unanswered.hearth.test';

test('with acme.alwaysValid, acme-client is issued a certificate though the challenge is never fetched', async () => {
  const before = connections;
  const client = await account(switchedOn);
  const [key, csr] = await acme.crypto.createCsr({ commonName: NAME, altNames: [NAME] });
  let challengesOffered = 0;
  const chainPem = await client.auto({
    csr,
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // acme-client's own pre-check would fetch the token itself; nothing here serves it.
    skipChallengeVerification: true,
    challengeCreateFn: async () => {
      challengesOffered++;
    },
    challengeRemoveFn: async () => {},
  });
  assert.equal(challengesOffered, 1, 'the order had one authorization to prove');
  assert.equal(connections, before, 'the validator never connected to the validation port');

  const [leafPem, issuerPem] = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const leaf = new X509Certificate(leafPem as string);
  assert.ok(leaf.verify(new X509Certificate(issuerPem as string).publicKey), 'signed by the issuing CA in the chain');
  assert.match(leaf.subjectAltName ?? '', /DNS:unanswered\.hearth\.test/);
  assert.ok(leaf.checkPrivateKey(createPrivateKey(key)), 'the certificate carries the CSR key');
  const serial = leaf.serialNumber.toLowerCase().replace(/^0+/, '');
  const logged = await switchedOn.server.client.call<{ index: number }>('GET', `/log/certificates/${serial}`);
  assert.ok(logged.index > 0, 'an always-valid issuance is still a leaf of the transparency log');
});

test('without the switch the same order is refused: the authorization is invalid with a connection error', async () => {
  const before = connections;
  const client = await account(switchedOff);
  const order = await client.createOrder({ identifiers: [{ type: 'dns', value: NAME }] });
  const [authz] = await client.getAuthorizations(order);
  const challenge = authz?.challenges.find((c) => c.type === 'http-01');
  assert.ok(authz && challenge);
  await client.completeChallenge(challenge);
  await assert.rejects(client.waitForValidStatus(challenge), /cannot fetch the challenge from unanswered\.hearth\.test/);
  assert.ok(connections > before, 'the validator did try the validation port');

  const [refused] = await client.getAuthorizations(order);
  assert.equal(refused?.status, 'invalid');
  const failed = refused?.challenges.find((c) => c.type === 'http-01') as { status: string; error?: { type?: string; detail?: string } } | undefined;
  assert.equal(failed?.status, 'invalid');
  assert.equal(failed?.error?.type, 'urn:ietf:params:acme:error:connection', JSON.stringify(failed?.error));
  assert.match(failed?.error?.detail ?? '', /unanswered\.hearth\.test/);
  assert.equal((await client.getOrder(order)).status, 'invalid');

  const [, csr] = await acme.crypto.createCsr({ commonName: NAME, altNames: [NAME] });
  await assert.rejects(client.finalizeOrder(order, csr), /orderNotReady|not ready|invalid/i);
});
