/**
 * ACME revokeCert against `hearth serve`: by the ordering account (acme-client), by another
 * account only once it holds authorizations for every name, by the certificate's own key with no
 * account at all; and the refusals (no authority, a reason a subscriber may not give, bytes this
 * server never issued, revoking twice), each of which leaves the certificate as it was.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import type { AcmeWire } from '../support/acme-wire.js';
import { assertProblem, newKey, type KeyPair } from '../support/acme-wire.js';
import { acmeAccount, obtainCertificate, startAcmeTestbed, type AcmeTestbed } from '../support/acme-http01.js';
import { leafOf, serialOf } from '../support/pem-certificates.js';

interface View {
  serial: string;
  state: string;
  revocationReason: string | null;
}

let bed: AcmeTestbed;
let wire: AcmeWire;

before(async () => {
  bed = await startAcmeTestbed();
  ({ wire } = bed);
});

after(async () => {
  await bed?.stop();
});

const derB64 = (leaf: X509Certificate) => leaf.raw.toString('base64url');
const view = (leaf: X509Certificate) => bed.server.client.call<View>('GET', `/api/v1/certificates/${serialOf(leaf)}`);

test('the ordering account revokes with acme-client; the API and the log see it; a second revocation is alreadyRevoked', async () => {
  const client = await acmeAccount(bed);
  const { chainPem } = await obtainCertificate(bed, client, ['revoke-me.hearth.test']);
  const leaf = leafOf(chainPem);
  await client.revokeCertificate(chainPem, { reason: 4 });
  const shown = await view(leaf);
  assert.equal(shown.state, 'revoked');
  assert.equal(shown.revocationReason, 'superseded');
  await assert.rejects(client.revokeCertificate(chainPem), /already revoked|alreadyRevoked/);
});

test('another account may revoke only while it holds valid authorizations for every name', async () => {
  const owner = await acmeAccount(bed);
  const { chainPem } = await obtainCertificate(bed, owner, ['shared-a.hearth.test', 'shared-b.hearth.test']);
  const leaf = leafOf(chainPem);
  const stranger = await acmeAccount(bed);
  await assert.rejects(stranger.revokeCertificate(chainPem), /holds no valid authorization for shared-a\.hearth\.test, shared-b\.hearth\.test/);
  // Authorized for one of the two names: still not enough.
  await obtainCertificate(bed, stranger, ['shared-a.hearth.test']);
  await assert.rejects(stranger.revokeCertificate(chainPem), /holds no valid authorization for shared-b\.hearth\.test/);
  assert.equal((await view(leaf)).state, 'issued', 'refusals change nothing');
  await obtainCertificate(bed, stranger, ['shared-b.hearth.test']);
  await stranger.revokeCertificate(chainPem, { reason: 1 });
  assert.equal((await view(leaf)).revocationReason, 'keyCompromise');
});

test("the certificate's own key revokes it without any account", async () => {
  const client = await acmeAccount(bed);
  const { chainPem, keyPem } = await obtainCertificate(bed, client, ['key-holder.hearth.test']);
  const leaf = leafOf(chainPem);
  const privateKey = createPrivateKey(keyPem);
  const certKey: KeyPair = { privateKey, publicKey: createPublicKey(privateKey) };
  // A bare key that is not the certificate's is refused.
  assertProblem(
    await wire.post('/revoke-cert', newKey(), { certificate: derB64(leaf), reason: 1 }),
    403,
    'unauthorized',
    /neither by an account nor by the certificate's key/,
  );
  assert.equal((await view(leaf)).state, 'issued');
  const answer = await wire.post('/revoke-cert', certKey, { certificate: derB64(leaf), reason: 1 });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.match(String(answer.headers['replay-nonce']), /^[A-Za-z0-9_-]{16,}$/);
  assert.equal((await view(leaf)).revocationReason, 'keyCompromise');
  assertProblem(await wire.post('/revoke-cert', certKey, { certificate: derB64(leaf) }), 400, 'alreadyRevoked');
});

test('bad revocation requests: reasons a subscriber may not give, unknown or altered certificates, bad payloads', async () => {
  const client = await acmeAccount(bed);
  const { chainPem, keyPem } = await obtainCertificate(bed, client, ['careful.hearth.test']);
  const leaf = leafOf(chainPem);
  const privateKey = createPrivateKey(keyPem);
  const certKey: KeyPair = { privateKey, publicKey: createPublicKey(privateKey) };
  for (const reason of [2, 6, 8, 9, 10, 7, -1, '1']) {
    assertProblem(await wire.post('/revoke-cert', certKey, { certificate: derB64(leaf), reason }), 400, 'badRevocationReason');
  }
  const altered = Buffer.from(leaf.raw);
  altered.writeUInt8(altered.readUInt8(altered.length - 5) ^ 0x01, altered.length - 5);
  assertProblem(await wire.post('/revoke-cert', certKey, { certificate: altered.toString('base64url') }), 404, 'malformed', /did not issue/);
  assertProblem(
    await wire.post('/revoke-cert', certKey, { certificate: Buffer.from('not a certificate').toString('base64url') }),
    400,
    'malformed',
    /does not parse/,
  );
  assertProblem(await wire.post('/revoke-cert', certKey, { certificate: 'has spaces' }), 400, 'malformed');
  assertProblem(await wire.post('/revoke-cert', certKey, {}), 400, 'malformed');
  assert.equal((await view(leaf)).state, 'issued', 'none of these revoked it');
  // An ACME client refuses nothing itself here: acme-client's own request with a forbidden reason.
  await assert.rejects(client.revokeCertificate(chainPem, { reason: 2 }), /badRevocationReason|not one a subscriber may give/);
  await client.revokeCertificate(chainPem);
  assert.equal((await view(leaf)).revocationReason, 'unspecified');
});

test('authorizations for every DNS name do not reach a certificate that also names an address', async () => {
  const [, csr] = await acme.crypto.createCsr({ commonName: 'mixed.hearth.test', altNames: ['mixed.hearth.test', '192.0.2.10'] });
  const issued = await bed.server.client.call<{ serial: string; certificate: string }>('POST', '/api/v1/certificates', {
    csr: csr.toString(),
    profile: 'service',
  });
  const leaf = new X509Certificate(issued.certificate);
  assert.match(leaf.subjectAltName ?? '', /IP Address:192\.0\.2\.10/);
  const prover = await acmeAccount(bed);
  await obtainCertificate(bed, prover, ['mixed.hearth.test']);
  await assert.rejects(prover.revokeCertificate(issued.certificate), /names identities no ACME authorization proves/);
  assert.equal((await view(leaf)).state, 'issued');
});
