/**
 * ACME and CSR edges on a running `hearth serve`, each sent by a client holding a real key or a
 * properly signed request of the wrong kind:
 * - a JWS signed with a bare key (`jwk`) where an account (`kid`) is required (newOrder, finalize,
 *   the order, its authorization and challenge, the certificate, the account, key change) is 400
 *   malformed with a fresh Replay-Nonce, never a 500, and changes nothing;
 * - an account key or a CSR key over 8192 RSA bits is refused (badPublicKey, badCSR over ACME,
 *   400 bad-csr over REST) and makes no account, no certificate; 8192 bits is accepted;
 * - a CSR with two extensionRequest attributes, or subjectAltName twice, where the first copy names
 *   exactly what the order is for: badCSR (400 bad-csr over REST), the order stays ready, nothing
 *   is issued; the same order then finalizes with a proper CSR.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import acme from 'acme-client';
import { ApiError } from '../../src/cli/api-client.js';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { pemEncode } from '../../src/pki/certificate-assembly.js';
import { assertProblem, newKey, type Answer, type KeyPair } from '../support/acme-wire.js';
import { proveOrderOverHttp01, startAcmeTestbed, type AcmeTestbed } from '../support/acme-http01.js';
import { bigRsaKey, type BigRsaKey } from '../support/big-rsa.js';
import { craftCsr, dnsNames, extensionRequest, p256CsrKey, rsaCsrKey, subjectAltName, type CsrKey } from '../support/crafted-csr.js';

let bed: AcmeTestbed;
/**
 * RSA keys around the ceiling, made once (well under a second each, see big-rsa.ts): one set for
 * account keys, one for CSRs, since a certificate is never issued for an account's key.
 */
const accountRsa = new Map<number, BigRsaKey>();
const csrRsa = new Map<number, BigRsaKey>();

before(async () => {
  bed = await startAcmeTestbed();
  for (const bits of [8192, 8193, 8200]) {
    accountRsa.set(bits, bigRsaKey(bits));
    csrRsa.set(bits, bigRsaKey(bits));
  }
});

after(async () => {
  await bed?.stop();
});

/** Rows in the server's own database, read beside it. */
function rows(table: 'acme_accounts' | 'acme_orders' | 'certificates'): number {
  const db = new Database(join(bed.installation.dir, 'hearth.db'), { readonly: true });
  try {
    return (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const counts = () => ({ accounts: rows('acme_accounts'), orders: rows('acme_orders'), certificates: rows('certificates') });

/** A flattened JWS signed by any signing function: for keys jose cannot hold (the multi-prime RSA ones). */
function rawJws(header: Record<string, unknown>, payload: unknown, sign: (data: Uint8Array) => Uint8Array): string {
  const protectedPart = Buffer.from(JSON.stringify(header)).toString('base64url');
  const payloadPart = payload === undefined ? '' : Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = Buffer.from(sign(Buffer.from(`${protectedPart}.${payloadPart}`, 'ascii'))).toString('base64url');
  return JSON.stringify({ protected: protectedPart, payload: payloadPart, signature });
}

interface Account {
  client: acme.Client;
  key: KeyPair;
  kid: string;
}

/** An acme-client account whose key the wire can sign with too. */
async function account(): Promise<Account> {
  const pem = await acme.crypto.createPrivateEcdsaKey();
  const client = new acme.Client({ directoryUrl: bed.directoryUrl, accountKey: pem });
  await client.createAccount({ termsOfServiceAgreed: true });
  const privateKey = createPrivateKey(pem);
  return { client, key: { privateKey, publicKey: createPublicKey(privateKey) }, kid: client.getAccountUrl() };
}

/** The path under /acme of one of the server's ACME URLs. */
const pathOf = (url: string) => url.slice(bed.wire.url('').length);

/** An order for `name`, proved over http-01: ready to finalize. */
async function readyOrder(owner: Account, name: string): Promise<acme.Order> {
  const order = await owner.client.createOrder({ identifiers: [{ type: 'dns', value: name }] });
  await proveOrderOverHttp01(bed, owner.client, order);
  assert.equal((await owner.client.getOrder(order)).status, 'ready');
  return order;
}

async function finalize(owner: Account, order: acme.Order, csr: Uint8Array): Promise<Answer> {
  return bed.wire.post(pathOf(order.finalize), owner.key, { csr: Buffer.from(csr).toString('base64url') }, owner.kid);
}

/** POST /api/v1/certificates with the installation's admin token: the REST path to the same authority. */
async function restIssue(csr: Uint8Array): Promise<{ status: number; type?: string; detail?: string }> {
  try {
    await bed.server.client.call('POST', '/api/v1/certificates', { csr: pemEncode('CERTIFICATE REQUEST', csr), profile: 'service' });
    return { status: 201 };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return { status: error.status, ...error.problem };
  }
}

/** A refusal over REST: 400 problem of type bad-csr whose detail matches. */
function assertBadCsr(answer: Awaited<ReturnType<typeof restIssue>>, detail: RegExp, what = ''): void {
  assert.equal(answer.status, 400, `${what} ${JSON.stringify(answer)}`);
  assert.equal(answer.type, 'https://hearth.dev/problems/bad-csr', what);
  assert.match(String(answer.detail), detail, what);
}

const sanRequest = (...names: string[]) => extensionRequest([subjectAltName(dnsNames(...names))]);

test('a JWS signed with a bare key where an account is required is 400 malformed with a fresh nonce, on every account endpoint, and changes nothing', async () => {
  const owner = await account();
  const order = await owner.client.createOrder({ identifiers: [{ type: 'dns', value: 'kid.hearth.test' }] });
  const [authzUrl] = order.authorizations;
  const authz = await owner.client.getAuthorizations(order);
  const challengeUrl = authz[0]?.challenges[0]?.url as string;
  const before = counts();
  const paths = [
    '/new-order',
    pathOf(order.finalize),
    pathOf(order.url),
    pathOf(authzUrl as string),
    pathOf(challengeUrl),
    `${pathOf(order.url)}/cert`,
    pathOf(owner.kid),
    '/key-change',
  ];
  const payloads: Record<string, unknown> = {
    '/new-order': { identifiers: [{ type: 'dns', value: 'kid.hearth.test' }] },
    [pathOf(order.finalize)]: { csr: 'AAAA' },
  };
  // The account's own key, and a key that holds no account: neither speaks for the account without kid.
  for (const key of [owner.key, newKey()]) {
    for (const path of paths) {
      const answer = await bed.wire.post(path, key, path in payloads ? payloads[path] : {});
      assertProblem(answer, 400, 'malformed', /must be signed by an account \(kid\), not a bare key \(jwk\)/);
      assert.equal(answer.body.status, 400, path);
    }
  }
  assert.deepEqual(counts(), before, 'no account, order or certificate was made');
  assert.equal((await owner.client.getOrder(order)).status, 'pending', 'the order is untouched');
});

test('newAccount with an RSA key over 8192 bits is badPublicKey and makes no account; an 8192-bit key makes one', async () => {
  const newAccount = bed.wire.url('/new-account');
  const post = async (key: BigRsaKey) =>
    bed.wire.send(
      'POST',
      newAccount,
      rawJws({ alg: 'RS256', nonce: await bed.wire.nonce(), url: newAccount, jwk: key.jwk }, { termsOfServiceAgreed: true }, key.sign),
    );
  for (const bits of [8193, 8200]) {
    const before = rows('acme_accounts');
    assertProblem(await post(accountRsa.get(bits) as BigRsaKey), 400, 'badPublicKey', /does not fit RS256/);
    assert.equal(rows('acme_accounts'), before, `no account for a ${bits}-bit key`);
  }
  const before = rows('acme_accounts');
  const created = await post(accountRsa.get(8192) as BigRsaKey);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.status, 'valid');
  assert.equal(rows('acme_accounts'), before + 1);
});

test('an RSA CSR key over 8192 bits is badCSR at finalize (the order stays ready) and 400 bad-csr over REST; 8192 bits is certified', async () => {
  const owner = await account();
  const name = 'rsa-ceiling.hearth.test';
  const order = await readyOrder(owner, name);
  const csrFor = (key: CsrKey) => craftCsr({ key, commonName: name, attributes: [sanRequest(name)] });
  for (const bits of [8193, 8200]) {
    const csr = csrFor(rsaCsrKey(csrRsa.get(bits) as BigRsaKey));
    const before = rows('certificates');
    assertProblem(await finalize(owner, order, csr), 400, 'badCSR', new RegExp(`RSA key of ${bits} bits is too large; at most 8192 bits are accepted`));
    assert.equal((await owner.client.getOrder(order)).status, 'ready', 'a refused CSR leaves the order ready');
    assertBadCsr(await restIssue(csr), new RegExp(`^RSA key of ${bits} bits is too large`), `${bits} bits`);
    assert.equal(rows('certificates'), before, 'nothing issued or left pending');
  }
  const rest = await restIssue(csrFor(rsaCsrKey(csrRsa.get(8192) as BigRsaKey)));
  assert.equal(rest.status, 201, JSON.stringify(rest));
  const finalized = await finalize(owner, order, csrFor(rsaCsrKey(csrRsa.get(8192) as BigRsaKey)));
  assert.equal(finalized.status, 200, JSON.stringify(finalized.body));
  assert.equal(finalized.body.status, 'valid');
});

test('a CSR with two extensionRequest attributes, or subjectAltName twice, is badCSR though its first copy names the order; nothing is issued, and the order still finalizes', async () => {
  const owner = await account();
  const name = 'twice.hearth.test';
  const other = 'smuggled.hearth.test';
  const order = await readyOrder(owner, name);
  const cases: [string, Uint8Array, RegExp][] = [
    [
      'two extensionRequest attributes',
      craftCsr({ key: p256CsrKey(), commonName: name, attributes: [sanRequest(name), sanRequest(other)] }),
      /more than one extensionRequest/,
    ],
    [
      'one extensionRequest with two values',
      craftCsr({ key: p256CsrKey(), commonName: name, attributes: [extensionRequest([subjectAltName(dnsNames(name))], [subjectAltName(dnsNames(other))])] }),
      /more than one extensionRequest/,
    ],
    [
      'subjectAltName twice',
      craftCsr({ key: p256CsrKey(), commonName: name, attributes: [extensionRequest([subjectAltName(dnsNames(name)), subjectAltName(dnsNames(other))])] }),
      /subjectAltName more than once/,
    ],
  ];
  for (const [what, csr, detail] of cases) {
    const before = counts();
    assertProblem(await finalize(owner, order, csr), 400, 'badCSR', detail);
    assert.equal((await owner.client.getOrder(order)).status, 'ready', `${what}: the order stays ready`);
    assertBadCsr(await restIssue(csr), detail, what);
    assert.deepEqual(counts(), before, `${what}: nothing issued`);
  }
  const good = await finalize(owner, order, craftCsr({ key: p256CsrKey(), commonName: name, attributes: [sanRequest(name)] }));
  assert.equal(good.status, 200, JSON.stringify(good.body));
  assert.equal(good.body.status, 'valid');
});
