/**
 * ACME directory, nonces and accounts against a running `hearth serve`: the npm acme-client as a
 * real client, then hand-made JWS requests for each way a request can be wrong, each answered with
 * the RFC 8555 error type and a fresh Replay-Nonce, and none changing the store.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import acme from 'acme-client';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { AcmeWire, assertProblem, jwkOf, jws, newKey } from '../support/acme-wire.js';
import { initInstallation, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

let installation: Installation;
let server: RunningServer;
let agent: Agent;

before(async () => {
  installation = await initInstallation();
  server = await startServer(installation);
  const ca = readFileSync(join(installation.dir, 'ca/root.pem'));
  agent = new Agent({ ca, keepAlive: true });
  wire = new AcmeWire(server.apiUrl, agent);
  acme.axios.defaults.httpsAgent = new Agent({ ca });
});

after(async () => {
  agent?.destroy();
  await server?.stop();
  await installation?.cleanup();
});

let wire: AcmeWire;
const acmeUrl = (path: string) => wire.url(path);
const send = (method: string, url: string, body?: string, contentType?: string) => wire.send(method, url, body, contentType);
const nonce = () => wire.nonce();

function accountCount(): number {
  const db = new Database(join(installation.dir, 'hearth.db'), { readonly: true });
  try {
    return (db.prepare('select count(*) as n from acme_accounts').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test('directory and nonces: HEAD 200 and GET 204 with a Replay-Nonce, no caching, a link to the directory', async () => {
  const directory = await send('GET', acmeUrl('/directory'));
  assert.equal(directory.status, 200);
  for (const key of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange'])
    assert.match(String(directory.body[key]), new RegExp(`^${server.apiUrl}/acme/`));
  const head = await send('HEAD', acmeUrl('/new-nonce'));
  const get = await send('GET', acmeUrl('/new-nonce'));
  assert.equal(head.status, 200);
  assert.equal(get.status, 204);
  assert.equal(head.headers['cache-control'], 'no-store');
  assert.notEqual(head.headers['replay-nonce'], get.headers['replay-nonce']);
  assert.equal(get.headers.link, `<${server.apiUrl}/acme/directory>;rel="index"`);
});

test('acme-client creates, finds, updates and deactivates an account; a deactivated account can do nothing', async () => {
  const key = await acme.crypto.createPrivateEcdsaKey();
  const client = new acme.Client({ directoryUrl: acmeUrl('/directory'), accountKey: key });
  const created = await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] });
  assert.equal(created.status, 'valid');
  assert.deepEqual(created.contact, ['mailto:ops@example.com']);
  const url = client.getAccountUrl();
  assert.match(url, new RegExp(`^${server.apiUrl}/acme/acct/`));
  const found = await client.createAccount({ onlyReturnExisting: true });
  assert.equal(client.getAccountUrl(), url, 'the same key finds the same account');
  assert.equal(found.status, 'valid');
  const updated = await client.updateAccount({ contact: ['mailto:other@example.com'] });
  assert.deepEqual(updated.contact, ['mailto:other@example.com']);
  const deactivated = await client.updateAccount({ status: 'deactivated' });
  assert.equal(deactivated.status, 'deactivated');
  await assert.rejects(client.updateAccount({ contact: ['mailto:third@example.com'] }), /deactivated/);
  const again = new acme.Client({ directoryUrl: acmeUrl('/directory'), accountKey: key });
  await assert.rejects(
    again.createAccount({ onlyReturnExisting: true }),
    /the account of this key is deactivated/,
    'its key gets nothing, not even the account',
  );
});

test('bad requests get the RFC error type, a fresh nonce, and change nothing', async () => {
  const { privateKey, publicKey } = newKey();
  const jwk = await jwkOf(publicKey);
  const newAccount = acmeUrl('/new-account');
  const accounts = accountCount();

  // alg none and HMAC are never accepted.
  const unsigned = JSON.stringify({
    protected: Buffer.from(JSON.stringify({ alg: 'none', nonce: await nonce(), url: newAccount, jwk })).toString('base64url'),
    payload: Buffer.from('{}').toString('base64url'),
    signature: '',
  });
  const none = await send('POST', newAccount, unsigned);
  assertProblem(none, 400, 'badSignatureAlgorithm');
  assert.deepEqual(none.body.algorithms, ['ES256', 'ES384', 'EdDSA', 'RS256']);
  const hmac = await send('POST', newAccount, await jws(new Uint8Array(32).fill(7), { alg: 'HS256', nonce: await nonce(), url: newAccount, jwk }, {}));
  assertProblem(hmac, 400, 'badSignatureAlgorithm');

  // A nonce is good once; an invented one never.
  const once = await nonce();
  const first = await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: once, url: newAccount, jwk }, { onlyReturnExisting: true }));
  assertProblem(first, 400, 'accountDoesNotExist');
  const replayed = await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: once, url: newAccount, jwk }, { onlyReturnExisting: true }));
  assertProblem(replayed, 400, 'badNonce');
  assertProblem(await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: 'bm90LWEtbm9uY2U', url: newAccount, jwk }, {})), 400, 'badNonce');

  // The url must be the request's; jwk xor kid; the signature must be the key's.
  assertProblem(
    await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: await nonce(), url: acmeUrl('/new-order'), jwk }, {})),
    403,
    'unauthorized',
    /is not the request URL/,
  );
  assertProblem(
    await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: await nonce(), url: newAccount, jwk, kid: acmeUrl('/acct/x') }, {})),
    400,
    'malformed',
    /exactly one of jwk and kid/,
  );
  const other = await jwkOf(newKey().publicKey);
  assertProblem(
    await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: await nonce(), url: newAccount, jwk: other }, {})),
    400,
    'malformed',
    /signature does not verify/,
  );
  assertProblem(
    await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: await nonce(), url: newAccount, jwk: { ...jwk, d: 'AAAA' } }, {})),
    400,
    'badPublicKey',
  );
  assertProblem(
    await send(
      'POST',
      acmeUrl('/acct/nope'),
      await jws(privateKey, { alg: 'ES256', nonce: await nonce(), url: acmeUrl('/acct/nope'), kid: acmeUrl('/acct/nope') }, undefined),
    ),
    400,
    'accountDoesNotExist',
  );
  assertProblem(
    await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: await nonce(), url: newAccount, jwk }, { contact: ['tel:+15551234'] })),
    400,
    'unsupportedContact',
  );

  // Media type, size, and JSON itself.
  assertProblem(
    await send('POST', newAccount, await jws(privateKey, { alg: 'ES256', nonce: await nonce(), url: newAccount, jwk }, {}), 'application/json'),
    415,
    'malformed',
  );
  assertProblem(await send('POST', newAccount, JSON.stringify({ protected: 'x'.repeat(70_000), payload: '', signature: '' })), 413, 'malformed');
  assertProblem(await send('POST', newAccount, '{"protected": "eyJh'), 400, 'malformed');

  assert.equal(accountCount(), accounts, 'no refused request made an account');
});

test('an account reads and changes only itself', async () => {
  const mine = newKey();
  const theirs = newKey();
  const newAccount = acmeUrl('/new-account');
  const create = async (key: { privateKey: KeyObject; publicKey: KeyObject }) => {
    const answer = await send(
      'POST',
      newAccount,
      await jws(key.privateKey, { alg: 'ES256', nonce: await nonce(), url: newAccount, jwk: await jwkOf(key.publicKey) }, { termsOfServiceAgreed: true }),
    );
    assert.equal(answer.status, 201);
    return answer.headers.location as string;
  };
  const myUrl = await create(mine);
  const theirUrl = await create(theirs);
  const asGet = await send('POST', myUrl, await jws(mine.privateKey, { alg: 'ES256', nonce: await nonce(), url: myUrl, kid: myUrl }, undefined));
  assert.equal(asGet.status, 200);
  assert.equal(asGet.body.status, 'valid');
  assertProblem(
    await send('POST', theirUrl, await jws(mine.privateKey, { alg: 'ES256', nonce: await nonce(), url: theirUrl, kid: myUrl }, { status: 'deactivated' })),
    403,
    'unauthorized',
  );
  assertProblem(
    await send('POST', myUrl, await jws(theirs.privateKey, { alg: 'ES256', nonce: await nonce(), url: myUrl, kid: myUrl }, undefined)),
    400,
    'malformed',
    /signature does not verify/,
  );
  const again = await send('POST', theirUrl, await jws(theirs.privateKey, { alg: 'ES256', nonce: await nonce(), url: theirUrl, kid: theirUrl }, undefined));
  assert.equal(again.body.status, 'valid', 'the other account is untouched');
});

test('key change: acme-client rolls its key; the old key finds nothing, the new key finds the account', async () => {
  const oldKey = await acme.crypto.createPrivateEcdsaKey();
  const client = new acme.Client({ directoryUrl: acmeUrl('/directory'), accountKey: oldKey });
  await client.createAccount({ termsOfServiceAgreed: true });
  const url = client.getAccountUrl();
  const newKeyPem = await acme.crypto.createPrivateRsaKey(2048);
  await client.updateAccountKey(newKeyPem);
  const updated = await client.updateAccount({ contact: ['mailto:rolled@example.com'] });
  assert.deepEqual(updated.contact, ['mailto:rolled@example.com'], 'the client goes on with the new key');

  const withOld = new acme.Client({ directoryUrl: acmeUrl('/directory'), accountKey: oldKey });
  await assert.rejects(withOld.createAccount({ onlyReturnExisting: true }), /accountDoesNotExist|no account holds this key/);
  const withNew = new acme.Client({ directoryUrl: acmeUrl('/directory'), accountKey: newKeyPem });
  await withNew.createAccount({ onlyReturnExisting: true });
  assert.equal(withNew.getAccountUrl(), url);
});

test('key change refusals: a key another account holds (409 and its location), wrong oldKey, inner url, inner signature; the key stays', async () => {
  const newAccount = acmeUrl('/new-account');
  const keyChange = acmeUrl('/key-change');
  const create = async (key: { privateKey: KeyObject; publicKey: KeyObject }) =>
    (await wire.post('/new-account', key, { termsOfServiceAgreed: true })).headers.location as string;
  const mine = newKey();
  const theirs = newKey();
  const fresh = newKey();
  const myUrl = await create(mine);
  const theirUrl = await create(theirs);
  const roll = async (inner: { key: KeyObject; jwk: unknown; url?: string; account?: string; oldKey?: unknown }) => {
    const innerJws: unknown = JSON.parse(
      await jws(
        inner.key,
        { alg: 'ES256', url: inner.url ?? keyChange, jwk: inner.jwk },
        { account: inner.account ?? myUrl, oldKey: inner.oldKey ?? (await jwkOf(mine.publicKey)) },
      ),
    );
    return send('POST', keyChange, await jws(mine.privateKey, { alg: 'ES256', nonce: await nonce(), url: keyChange, kid: myUrl }, innerJws));
  };

  const taken = await roll({ key: theirs.privateKey, jwk: await jwkOf(theirs.publicKey) });
  assertProblem(taken, 409, 'malformed', /already belongs to an account/);
  assert.equal(taken.headers.location, theirUrl);
  assertProblem(
    await roll({ key: fresh.privateKey, jwk: await jwkOf(fresh.publicKey), oldKey: await jwkOf(theirs.publicKey) }),
    400,
    'malformed',
    /oldKey is not the account's current key/,
  );
  assertProblem(await roll({ key: fresh.privateKey, jwk: await jwkOf(fresh.publicKey), url: newAccount }), 400, 'malformed', /inner JWS url/);
  assertProblem(await roll({ key: fresh.privateKey, jwk: await jwkOf(fresh.publicKey), account: theirUrl }), 400, 'malformed', /names another account/);
  assertProblem(await roll({ key: theirs.privateKey, jwk: await jwkOf(fresh.publicKey) }), 400, 'malformed', /inner JWS signature does not verify/);
  assertProblem(
    await send('POST', keyChange, await jws(mine.privateKey, { alg: 'ES256', nonce: await nonce(), url: keyChange, kid: myUrl }, { account: myUrl })),
    400,
    'malformed',
    /the inner JWS/,
  );

  const stillMine = await wire.post(myUrl.slice(acmeUrl('').length), mine, undefined, myUrl);
  assert.equal(stillMine.status, 200, 'the account still answers to its own key');
  const freshFinds = await wire.post('/new-account', fresh, { onlyReturnExisting: true });
  assertProblem(freshFinds, 400, 'accountDoesNotExist');
});
