/**
 * ACME orders end to end with the npm acme-client against `hearth serve`: http-01 answered by a
 * challenge server on loopback (the validation port and address are configured the way Pebble
 * lets tests do it), finalize through the authority, the chain downloaded, the certificate in the
 * transparency log; and the refusals: wrong key authorization, CSR names that differ from the
 * order, finalize before the order is ready.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import acme from 'acme-client';
import { initInstallation, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

let installation: Installation;
let server: RunningServer;
let challenges: Server;
const answers = new Map<string, string>();
let rootPem: string;

before(async () => {
  challenges = createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    const answer = token ? answers.get(token) : undefined;
    res.writeHead(answer ? 200 : 404, { 'content-type': 'text/plain' }).end(answer ?? 'not found');
  });
  await new Promise<void>((resolve) => challenges.listen(0, '127.0.0.1', resolve));
  installation = await initInstallation();
  installation.env.HEARTH_ACME_HTTP01_PORT = String((challenges.address() as AddressInfo).port);
  installation.env.HEARTH_ACME_VALIDATION_ADDRESS = '127.0.0.1';
  server = await startServer(installation);
  rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
  acme.axios.defaults.httpsAgent = new Agent({ ca: rootPem });
});

after(async () => {
  await server?.stop();
  await installation?.cleanup();
  await new Promise((resolve) => challenges?.close(resolve));
});

async function client(): Promise<acme.Client> {
  const c = new acme.Client({ directoryUrl: `${server.apiUrl}/acme/directory`, accountKey: await acme.crypto.createPrivateEcdsaKey() });
  await c.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] });
  return c;
}

test('acme-client auto(): http-01, finalize, chain; the certificate verifies and is in the log', async () => {
  const c = await client();
  const [, csr] = await acme.crypto.createCsr({ commonName: 'www.hearth.test', altNames: ['www.hearth.test', 'api.hearth.test'] });
  const pem = await c.auto({
    csr,
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // The client's own pre-check would resolve the test name in DNS; Hearth's validator is configured to connect to loopback.
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      answers.set(challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      answers.delete(challenge.token);
    },
  });
  const [leafPem, issuerPem] = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const leaf = new X509Certificate(leafPem as string);
  const issuer = new X509Certificate(issuerPem as string);
  assert.ok(leaf.verify(issuer.publicKey), 'signed by the issuing CA in the chain');
  assert.ok(issuer.verify(new X509Certificate(rootPem).publicKey), 'which chains to the installation root');
  assert.match(leaf.subjectAltName ?? '', /DNS:www\.hearth\.test/);
  assert.match(leaf.subjectAltName ?? '', /DNS:api\.hearth\.test/);
  const serial = leaf.serialNumber.toLowerCase().replace(/^0+/, '');
  const logged = await server.client.call<{ index: number }>('GET', `/log/certificates/${serial}`);
  assert.ok(logged.index > 0, 'the ACME certificate has its cert.issued leaf');
});

test('a wrong key authorization makes the authorization and the order invalid', async () => {
  const c = await client();
  const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'bad.hearth.test' }] });
  const [authz] = await c.getAuthorizations(order);
  const challenge = authz?.challenges.find((ch) => ch.type === 'http-01');
  assert.ok(authz && challenge);
  answers.set(challenge.token, 'not-the-key-authorization');
  await c.completeChallenge(challenge);
  await assert.rejects(c.waitForValidStatus(challenge), /incorrect|wrong key authorization|invalid/i);
  const after = await c.getOrder(order);
  assert.equal(after.status, 'invalid');
});

test('finalize before validation is orderNotReady; a CSR naming other hosts is badCSR', async () => {
  const c = await client();
  const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'ready.hearth.test' }] });
  const [, early] = await acme.crypto.createCsr({ commonName: 'ready.hearth.test' });
  await assert.rejects(c.finalizeOrder(order, early), /not ready|orderNotReady/i);

  const [authz] = await c.getAuthorizations(order);
  const challenge = authz?.challenges.find((ch) => ch.type === 'http-01');
  assert.ok(challenge);
  answers.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
  await c.completeChallenge(challenge);
  await c.waitForValidStatus(challenge);
  const [, wrong] = await acme.crypto.createCsr({ commonName: 'ready.hearth.test', altNames: ['ready.hearth.test', 'other.hearth.test'] });
  await assert.rejects(c.finalizeOrder(order, wrong), /other\.hearth\.test|badCSR/);
  assert.equal((await c.getOrder(order)).status, 'ready', 'a refused CSR leaves the order ready');
});
