/**
 * The device SDK's ACME client is a real ACME client: against Pebble, which nobody here wrote,
 * it makes an account, orders a certificate for a host name, proves it over http-01 (Pebble's
 * validator fetches the token from the SDK's responder), finalizes and downloads the chain, while
 * Pebble refuses a share of good nonces so badNonce handling is exercised on the way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { AcmeClient } from '../../src/device/acme-client.js';
import { orderCertificate } from '../../src/device/certificate-order.js';
import { createRequestForKey } from '../../src/pki/certificate-request.js';
import { Http01Responder } from '../../src/device/http01-responder.js';
import { HttpsTransport } from '../../src/device/https-transport.js';
import { inCi } from '../support/environment.js';
import { needsPebble, startPebble, type RunningPebble } from '../support/pebble.js';

const skip = needsPebble();
if (skip && inCi) throw new Error(skip);
let pebble: RunningPebble;
let responder: Http01Responder;

before(async () => {
  if (skip) return;
  // A quarter of good nonces refused: every request risks a badNonce the client must retry.
  pebble = await startPebble({ PEBBLE_WFE_NONCEREJECT: '25' });
  responder = new Http01Responder();
  await responder.listen(pebble.httpPort, '::');
});

after(async () => {
  await responder?.close();
  await pebble?.stop();
});

test('the SDK gets a certificate from Pebble over http-01 and retries the nonces Pebble refuses', { skip }, async () => {
  const transport = new HttpsTransport({ caPem: pebble.caPem });
  try {
    const client = new AcmeClient(transport, pebble.directoryUrl, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    await client.account(['mailto:ops@example.com']);
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const issued: string[] = [];
    // Three orders at least, and more (up to ten) until Pebble has refused a nonce: it refuses at
    // random, and now and then lets every request of three orders through.
    for (let i = 0; i < 10 && (i < 3 || client.badNonceRetries === 0); i++) {
      const { pem } = await orderCertificate(client, {
        identifiers: [{ type: 'dns', value: 'localhost' }],
        solver: responder,
        csr: () => createRequestForKey(key, { commonName: 'localhost', dnsNames: ['localhost'] }),
      });
      const leaf = new X509Certificate(pem);
      assert.ok(leaf.checkHost('localhost'));
      assert.ok(leaf.publicKey.equals(createPublicKey(key)));
      issued.push(leaf.serialNumber);
    }
    assert.equal(new Set(issued).size, issued.length, 'each order got a certificate of its own');
    assert.ok(client.badNonceRetries > 0, `Pebble refused no nonce in ${issued.length} orders`);
    assert.match(pebble.log(), /Attempting to validate w\/ HTTP: http:\/\/localhost:\d+\/\.well-known\/acme-challenge\//, 'Pebble really fetched the token');
  } finally {
    transport.close();
  }
});
