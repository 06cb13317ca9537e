/**
 * Who the ACME server admits, against `hearth serve`: external account binding when the operator
 * requires it (keys made with `hearth acme eab-key`, each binding one account, acme-client as the
 * client), identifier policies per account from hearth.yaml, rate limits on new accounts, new
 * orders and failed validations answered with rateLimited and Retry-After, authorization
 * deactivation, and orders whose authorizations expire.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import acme from 'acme-client';
import { parse, stringify } from 'yaml';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { AcmeWire, assertProblem, newKey, type KeyPair } from '../support/acme-wire.js';
import { Http01Responder } from '../support/acme-http01.js';
import { initInstallation, runCli, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

interface Bed {
  installation: Installation;
  server: RunningServer;
  wire: AcmeWire;
  directoryUrl: string;
}

/** An installation whose hearth.yaml has this `acme` section, served with validation pointed at the responder. */
async function serveWith(acmeConfig: Record<string, unknown>, responder: Http01Responder): Promise<Bed> {
  const installation = await initInstallation();
  const file = join(installation.dir, 'hearth.yaml');
  const config = (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  writeFileSync(file, stringify({ ...config, acme: { ...acmeConfig, http01Port: responder.port, validationAddress: '127.0.0.1' } }));
  const server = await startServer(installation);
  const ca = readFileSync(join(installation.dir, 'ca/root.pem'));
  acme.axios.defaults.httpsAgent = new Agent({ ca });
  return { installation, server, wire: new AcmeWire(server.apiUrl, new Agent({ ca })), directoryUrl: `${server.apiUrl}/acme/directory` };
}

function eabKey(bed: Bed, policy?: string): { kid: string; hmacKey: string } {
  const result = runCli(['acme', 'eab-key', '--dir', bed.installation.dir, ...(policy ? ['--policy', policy] : [])], {
    ...bed.installation.env,
    HEARTH_URL: bed.server.apiUrl,
  });
  assert.equal(result.status, 0, result.stderr);
  const kid = /^kid: +(\S+)$/m.exec(result.stdout)?.[1];
  const hmacKey = /^hmac key: +(\S+)$/m.exec(result.stdout)?.[1];
  assert.ok(kid && hmacKey, result.stdout);
  return { kid, hmacKey };
}

function accountCount(bed: Bed): number {
  const db = new Database(join(bed.installation.dir, 'hearth.db'), { readonly: true });
  try {
    return (db.prepare('select count(*) as n from acme_accounts').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

let responder: Http01Responder;
before(async () => {
  responder = await Http01Responder.start();
});
after(async () => {
  await responder?.close();
});

describe('external account binding required, identifier policies per account', () => {
  let bed: Bed;
  before(async () => {
    bed = await serveWith(
      {
        externalAccountRequired: true,
        defaultPolicy: 'open',
        policies: { open: { dnsNames: ['*.open.hearth.test'] }, gateways: { dnsNames: ['gw.hearth.test', '*.gw.hearth.test'] } },
      },
      responder,
    );
  });
  after(async () => {
    await bed?.server.stop();
    await bed?.installation.cleanup();
  });

  test('without a binding there is no account; the directory says a binding is required', async () => {
    const directory = await bed.wire.send('GET', bed.wire.url('/directory'));
    assert.deepEqual(directory.body.meta, { externalAccountRequired: true });
    const accounts = accountCount(bed);
    assertProblem(await bed.wire.post('/new-account', newKey(), { termsOfServiceAgreed: true }), 400, 'externalAccountRequired');
    assert.equal(accountCount(bed), accounts);
  });

  test('acme-client binds an account with a key from the CLI; the key binds no second account; a wrong MAC binds none', async () => {
    const { kid, hmacKey } = eabKey(bed, 'gateways');
    const first = new acme.Client({
      directoryUrl: bed.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid, hmacKey },
    });
    await first.createAccount({ termsOfServiceAgreed: true });
    const accounts = accountCount(bed);
    const second = new acme.Client({
      directoryUrl: bed.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid, hmacKey },
    });
    await assert.rejects(second.createAccount({ termsOfServiceAgreed: true }), /bound to an account already/);
    const other = eabKey(bed);
    const forged = new acme.Client({
      directoryUrl: bed.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: other.kid, hmacKey },
    });
    await assert.rejects(forged.createAccount({ termsOfServiceAgreed: true }), /MAC does not verify/);
    const unknown = new acme.Client({
      directoryUrl: bed.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: 'eab_nope', hmacKey },
    });
    await assert.rejects(unknown.createAccount({ termsOfServiceAgreed: true }), /no external account binding key/);
    assert.equal(accountCount(bed), accounts, 'refused bindings made no account');
    // The unused key still works afterwards: the refusal above did not consume it.
    const late = new acme.Client({ directoryUrl: bed.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: other });
    await late.createAccount({ termsOfServiceAgreed: true });
    const env = { ...bed.installation.env, HEARTH_URL: bed.server.apiUrl };
    const unused = eabKey(bed);
    const withdrawn = runCli(['acme', 'eab-withdraw', unused.kid, '--dir', bed.installation.dir], env);
    assert.equal(withdrawn.status, 0, withdrawn.stderr);
    const tooLate = new acme.Client({ directoryUrl: bed.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: unused });
    await assert.rejects(tooLate.createAccount({ termsOfServiceAgreed: true }), /no external account binding key/);
    const bound = runCli(['acme', 'eab-withdraw', kid, '--dir', bed.installation.dir], env);
    assert.notEqual(bound.status, 0);
    assert.match(bound.stderr, /is bound to an account; deactivate that account instead/);
    assert.match(runCli(['acme', 'eab-withdraw', 'eab_unknown', '--dir', bed.installation.dir], env).stderr, /no external account binding key eab_unknown/);
    const cli = runCli(['acme', 'eab-key', '--dir', bed.installation.dir, '--policy', 'nowhere'], env);
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, /no identifier policy "nowhere"/);
  });

  test('the database holds no usable binding key: not in hearth.db, its WAL or shared memory; the key still binds after a restart', async () => {
    const { kid, hmacKey } = eabKey(bed, 'gateways');
    const raw = Buffer.from(hmacKey, 'base64url');
    assert.equal(raw.length, 32);
    const files = readdirSync(bed.installation.dir).filter((name) => name.startsWith('hearth.db'));
    assert.ok(files.includes('hearth.db-wal'), 'the write is still in the WAL while the server runs');
    for (const file of files) {
      const bytes = readFileSync(join(bed.installation.dir, file));
      assert.equal(bytes.indexOf(raw), -1, `${file} holds the MAC key`);
      assert.equal(bytes.indexOf(Buffer.from(hmacKey)), -1, `${file} holds the MAC key in base64url`);
      assert.equal(bytes.indexOf(Buffer.from(raw.toString('base64'))), -1, `${file} holds the MAC key in base64`);
    }
    // The key is derived again from the kid and the installation's secret by a new process.
    await bed.server.stop();
    bed.server = await startServer(bed.installation);
    // On a new port: what later tests reach follows it.
    bed.directoryUrl = `${bed.server.apiUrl}/acme/directory`;
    bed.wire = new AcmeWire(bed.server.apiUrl, new Agent({ ca: readFileSync(join(bed.installation.dir, 'ca/root.pem')) }));
    const client = new acme.Client({
      directoryUrl: bed.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid, hmacKey },
    });
    await client.createAccount({ termsOfServiceAgreed: true });
  });

  test("an account orders only the names its key's policy allows", async () => {
    const gateway = new acme.Client({
      directoryUrl: bed.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: eabKey(bed, 'gateways'),
    });
    await gateway.createAccount({ termsOfServiceAgreed: true });
    const order = await gateway.createOrder({
      identifiers: [
        { type: 'dns', value: 'gw.hearth.test' },
        { type: 'dns', value: 'kitchen.gw.hearth.test' },
      ],
    });
    assert.equal(order.status, 'pending');
    await assert.rejects(
      gateway.createOrder({
        identifiers: [
          { type: 'dns', value: 'gw.hearth.test' },
          { type: 'dns', value: 'a.open.hearth.test' },
        ],
      }),
      /does not allow a\.open\.hearth\.test/,
    );
    const plain = new acme.Client({
      directoryUrl: bed.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: eabKey(bed),
    });
    await plain.createAccount({ termsOfServiceAgreed: true });
    await plain.createOrder({ identifiers: [{ type: 'dns', value: 'a.open.hearth.test' }] });
    await assert.rejects(plain.createOrder({ identifiers: [{ type: 'dns', value: 'gw.hearth.test' }] }), /policy \(open\) does not allow gw\.hearth\.test/);
  });
});

describe('rate limits, deactivation and expiry', () => {
  let bed: Bed;
  const LIMITS = { newAccountsPerIp: 6, newOrdersPerAccount: 3, failedValidationsPerAccount: 2 };
  before(async () => {
    bed = await serveWith({ orderLifetimeSeconds: 2, rateLimits: LIMITS }, responder);
  });
  after(async () => {
    await bed?.server.stop();
    await bed?.installation.cleanup();
  });

  async function account(): Promise<{ key: KeyPair; kid: string }> {
    const key = newKey();
    const answer = await bed.wire.post('/new-account', key, { termsOfServiceAgreed: true });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return { key, kid: answer.headers.location as string };
  }
  const order = (who: { key: KeyPair; kid: string }, name: string) =>
    bed.wire.post('/new-order', who.key, { identifiers: [{ type: 'dns', value: name }] }, who.kid);
  const path = (url: unknown) => String(url).slice(bed.wire.url('').length);

  function assertRateLimited(answer: Awaited<ReturnType<typeof order>>, what: RegExp): void {
    assertProblem(answer, 429, 'rateLimited', what);
    const retryAfter = Number(answer.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${String(answer.headers['retry-after'])}`);
  }

  test('new orders per account: the fourth in the window is rateLimited with Retry-After', async () => {
    const who = await account();
    for (let n = 0; n < LIMITS.newOrdersPerAccount; n++) assert.equal((await order(who, `n${n}.limits.hearth.test`)).status, 201);
    assertRateLimited(await order(who, 'n9.limits.hearth.test'), /new orders by this account: at most 3/);
    assert.equal((await order(await account(), 'other.limits.hearth.test')).status, 201, 'another account has its own count');
  });

  test('failed validations per account: after two, challenges and new orders wait', async () => {
    const who = await account();
    for (let n = 0; n < LIMITS.failedValidationsPerAccount; n++) {
      const created = await order(who, `fail${n}.limits.hearth.test`);
      const authzUrl = (created.body.authorizations as string[])[0];
      const authz = await bed.wire.post(path(authzUrl), who.key, undefined, who.kid);
      const challenge = (authz.body.challenges as { type: string; url: string }[]).find((c) => c.type === 'http-01');
      // Nobody answers the token: the responder says 404.
      const answered = await bed.wire.post(path(challenge?.url), who.key, {}, who.kid);
      assert.equal(answered.body.status, 'invalid', JSON.stringify(answered.body));
    }
    assertRateLimited(await order(who, 'fail9.limits.hearth.test'), /failed validations of this account: at most 2/);
  });

  test('a deactivated authorization makes its order invalid and cannot be deactivated again', async () => {
    const who = await account();
    const created = await order(who, 'deactivate.limits.hearth.test');
    const authzUrl = path((created.body.authorizations as string[])[0]);
    const deactivated = await bed.wire.post(authzUrl, who.key, { status: 'deactivated' }, who.kid);
    assert.equal(deactivated.body.status, 'deactivated');
    assert.equal((await bed.wire.post(path(created.headers.location), who.key, undefined, who.kid)).body.status, 'invalid');
    assertProblem(await bed.wire.post(authzUrl, who.key, { status: 'deactivated' }, who.kid), 400, 'malformed', /deactivated cannot be deactivated/);
    assertProblem(await bed.wire.post(authzUrl, who.key, { status: 'valid' }, who.kid), 400, 'malformed', /only change/);
  });

  test('deactivating an account makes its open orders invalid and its pending authorizations deactivated', async () => {
    const who = await account();
    const created = await order(who, 'leaving.limits.hearth.test');
    const answer = await bed.wire.post(path(who.kid), who.key, { status: 'deactivated' }, who.kid);
    assert.equal(answer.body.status, 'deactivated');
    const db = new Database(join(bed.installation.dir, 'hearth.db'), { readonly: true });
    try {
      const id = path(created.headers.location).split('/').pop();
      const row = db.prepare('select status, error from acme_orders where id = ?').get(id) as { status: string; error: string };
      assert.equal(row.status, 'invalid');
      assert.match(row.error, /the account was deactivated/);
      const authzId = path((created.body.authorizations as string[])[0])
        .split('/')
        .pop();
      assert.equal((db.prepare('select status from acme_authorizations where id = ?').get(authzId) as { status: string }).status, 'deactivated');
    } finally {
      db.close();
    }
  });

  test('an order whose authorizations expire becomes invalid; its challenge can no longer be answered', async () => {
    const who = await account();
    const created = await order(who, 'expire.limits.hearth.test');
    const authzUrl = path((created.body.authorizations as string[])[0]);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const authz = await bed.wire.post(authzUrl, who.key, undefined, who.kid);
    assert.equal(authz.body.status, 'expired');
    const challenge = (authz.body.challenges as { type: string; url: string; token: string }[]).find((c) => c.type === 'http-01');
    responder.answers.set(challenge?.token as string, 'whatever');
    await bed.wire.post(path(challenge?.url), who.key, {}, who.kid);
    const after = await bed.wire.post(path(created.headers.location), who.key, undefined, who.kid);
    assert.equal(after.body.status, 'invalid');
  });

  test('new accounts per address: the limit holds, and refusals make no account', async () => {
    let refused: Awaited<ReturnType<typeof order>> | undefined;
    for (let n = 0; n <= LIMITS.newAccountsPerIp && !refused; n++) {
      const answer = await bed.wire.post('/new-account', newKey(), { termsOfServiceAgreed: true });
      if (answer.status !== 201) refused = answer;
    }
    assert.ok(refused, 'one creation past the limit was refused');
    assertRateLimited(refused, /new accounts from this address: at most 6/);
    assert.equal(accountCount(bed), LIMITS.newAccountsPerIp);
  });
});
