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
import acme from 'acme-client';
import { acmeAccount, obtainCertificate, proveOrderOverHttp01, startAcmeTestbed, type AcmeTestbed } from '../support/acme-http01.js';

let bed: AcmeTestbed;
let server: AcmeTestbed['server'];
let answers: Map<string, string>;
let rootPem: string;

before(async () => {
  bed = await startAcmeTestbed();
  ({ server, rootPem } = bed);
  answers = bed.responder.answers;
});

after(async () => {
  await bed?.stop();
});

const client = () => acmeAccount(bed);

test('acme-client auto(): http-01, finalize, chain; the certificate verifies and is in the log', async () => {
  const c = await client();
  const { chainPem: pem } = await obtainCertificate(bed, c, ['www.hearth.test', 'api.hearth.test']);
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
  await proveOrderOverHttp01(bed, c, order);
  const [, wrong] = await acme.crypto.createCsr({ commonName: 'ready.hearth.test', altNames: ['ready.hearth.test', 'other.hearth.test'] });
  await assert.rejects(c.finalizeOrder(order, wrong), /other\.hearth\.test|badCSR/);
  assert.equal((await c.getOrder(order)).status, 'ready', 'a refused CSR leaves the order ready');

  // The right names under a signature that does not verify: the authority refuses it, the order stays ready.
  const [, good] = await acme.crypto.createCsr({ commonName: 'ready.hearth.test' });
  const der = Buffer.from(good.toString().replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  der.writeUInt8(der.readUInt8(der.length - 3) ^ 0x01, der.length - 3);
  const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(c.finalizeOrder(order, forged), /signature does not verify|badCSR/);
  assert.equal((await c.getOrder(order)).status, 'ready', 'a CSR the authority refuses leaves the order ready');
  const finalized = await c.finalizeOrder(order, good);
  assert.equal(finalized.status, 'valid');
});

test("a CSR with the account's own key or upper-case names is badCSR and leaves the order ready; notBefore is refused", async () => {
  const accountKey = await acme.crypto.createPrivateEcdsaKey();
  const c = new acme.Client({ directoryUrl: bed.directoryUrl, accountKey });
  await c.createAccount({ termsOfServiceAgreed: true });
  await assert.rejects(
    c.createOrder({ identifiers: [{ type: 'dns', value: 'dates.hearth.test' }], notBefore: new Date().toISOString() }),
    /notBefore and notAfter/,
  );
  const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'case.hearth.test' }] });
  await proveOrderOverHttp01(bed, c, order);
  const [, withAccountKey] = await acme.crypto.createCsr({ commonName: 'case.hearth.test' }, accountKey);
  await assert.rejects(c.finalizeOrder(order, withAccountKey), /account key/);
  assert.equal((await c.getOrder(order)).status, 'ready');
  const [, upper] = await acme.crypto.createCsr({ commonName: 'Case.Hearth.Test', altNames: ['CASE.hearth.test'] });
  await assert.rejects(c.finalizeOrder(order, upper), /not a valid lower-case DNS name/);
  assert.equal((await c.getOrder(order)).status, 'ready');
  const [, lower] = await acme.crypto.createCsr({ commonName: 'case.hearth.test' });
  assert.equal((await c.finalizeOrder(order, lower)).status, 'valid');
});
