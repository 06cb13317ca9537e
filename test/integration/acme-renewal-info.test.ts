/**
 * ACME Renewal Information (RFC 9773) against `hearth serve`: renewalInfo in the directory, the
 * window of a certificate named by AKI and serial (the last third of its life), the operator's
 * mass early renewal moving it to now (API and CLI), a revoked certificate's window at once, and
 * `replaces` in newOrder with its refusals. Neither Debian client (certbot 2.1, lego 4.9) speaks
 * ARI, so the requests are made here as the RFC describes them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { X509Certificate } from 'node:crypto';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import acme from 'acme-client';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, Certificate, id_ce_authorityKeyIdentifier } from '@peculiar/asn1-x509';
import type { AcmeWire } from '../support/acme-wire.js';
import { assertProblem, type KeyPair } from '../support/acme-wire.js';
import { obtainCertificate, startAcmeTestbed, type AcmeTestbed } from '../support/acme-http01.js';
import { runCli } from '../support/hearth-process.js';
import { leafOf, serialOf } from '../support/pem-certificates.js';

let bed: AcmeTestbed;
let wire: AcmeWire;

before(async () => {
  bed = await startAcmeTestbed();
  ({ wire } = bed);
});

after(async () => {
  await bed?.stop();
});

interface RenewalInfo {
  suggestedWindow: { start: string; end: string };
  explanationURL?: string;
}

/** RFC 9773 4.1, computed from the certificate alone as a client does. */
function ariId(leaf: X509Certificate): string {
  const tbs = AsnConvert.parse(leaf.raw, Certificate).tbsCertificate;
  const extension = tbs.extensions?.find((e) => e.extnID === id_ce_authorityKeyIdentifier);
  if (!extension) throw new Error('the certificate has no authorityKeyIdentifier');
  const aki = AsnConvert.parse(extension.extnValue, AuthorityKeyIdentifier);
  return `${Buffer.from(aki.keyIdentifier?.buffer as ArrayBuffer).toString('base64url')}.${Buffer.from(tbs.serialNumber).toString('base64url')}`;
}

async function renewalInfo(id: string): Promise<{ status: number; retryAfter: string | undefined; body: RenewalInfo & Record<string, unknown> }> {
  const answer = await wire.send('GET', wire.url(`/renewal-info/${id}`));
  return { status: answer.status, retryAfter: answer.headers['retry-after'] as string | undefined, body: answer.body as RenewalInfo & Record<string, unknown> };
}

/** An account made with acme-client whose key the wire can sign with too. */
async function account(): Promise<{ client: acme.Client; key: KeyPair; kid: string }> {
  const pem = await acme.crypto.createPrivateEcdsaKey();
  const client = new acme.Client({ directoryUrl: bed.directoryUrl, accountKey: pem });
  await client.createAccount({ termsOfServiceAgreed: true });
  const privateKey = createPrivateKey(pem);
  return { client, key: { privateKey, publicKey: createPublicKey(privateKey) }, kid: client.getAccountUrl() };
}

test("the directory names renewalInfo; a certificate's window is the last third of its life, asked again after Retry-After", async () => {
  const directory = await wire.send('GET', wire.url('/directory'));
  assert.equal(directory.body.renewalInfo, wire.url('/renewal-info'));
  const { client } = await account();
  const leaf = leafOf((await obtainCertificate(bed, client, ['ari.hearth.test'])).chainPem);
  const info = await renewalInfo(ariId(leaf));
  assert.equal(info.status, 200, JSON.stringify(info.body));
  const notBefore = new Date(leaf.validFrom).getTime();
  const notAfter = new Date(leaf.validTo).getTime();
  const start = Date.parse(info.body.suggestedWindow.start);
  const end = Date.parse(info.body.suggestedWindow.end);
  // X509Certificate shows whole seconds; the window comes from the stored milliseconds.
  assert.ok(Math.abs(end - notAfter) < 1000, 'the window ends at notAfter');
  assert.ok(Math.abs(start - (notAfter - (notAfter - notBefore) / 3)) < 2000, 'and starts two thirds into the lifetime');
  assert.equal(info.body.explanationURL, undefined);
  const retryAfter = Number(info.retryAfter);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 60 && retryAfter <= 6 * 3600, `Retry-After ${info.retryAfter}`);
});

test("renewalInfo refuses identifiers it cannot have issued: malformed ones, unknown serials, another CA's key id", async () => {
  const { client } = await account();
  const leaf = leafOf((await obtainCertificate(bed, client, ['ari-bad.hearth.test'])).chainPem);
  const [aki, serial] = ariId(leaf).split('.') as [string, string];
  assertProblem(await wire.send('GET', wire.url('/renewal-info/not-an-identifier')), 400, 'malformed', /RFC 9773/);
  assertProblem(await wire.send('GET', wire.url(`/renewal-info/${aki}.${Buffer.from('0102030405', 'hex').toString('base64url')}`)), 404, 'malformed');
  assertProblem(await wire.send('GET', wire.url(`/renewal-info/${Buffer.alloc(20, 7).toString('base64url')}.${serial}`)), 404, 'malformed');
});

test('mass early renewal: the API and the CLI move chosen windows to now, with the explanation; others keep theirs', async () => {
  const { client } = await account();
  const first = leafOf((await obtainCertificate(bed, client, ['early-1.hearth.test'])).chainPem);
  const second = leafOf((await obtainCertificate(bed, client, ['early-2.hearth.test'])).chainPem);
  const untouched = leafOf((await obtainCertificate(bed, client, ['early-3.hearth.test'])).chainPem);
  const before = (await renewalInfo(ariId(untouched))).body.suggestedWindow;

  const asked = Date.now();
  const moved = await bed.server.client.call<{ updated: number; window: { start: string; end: string } }>('POST', '/api/v1/renewal-windows', {
    serials: [serialOf(first).toUpperCase(), 'abcdef0123'],
    withinSeconds: 600,
    explanationUrl: 'https://status.hearth.test/incident-7',
  });
  assert.equal(moved.updated, 1, 'the unknown serial is not counted');
  const info = (await renewalInfo(ariId(first))).body;
  assert.ok(Math.abs(Date.parse(info.suggestedWindow.start) - asked) < 5000, 'the window starts now');
  assert.equal(Date.parse(info.suggestedWindow.end) - Date.parse(info.suggestedWindow.start), 600_000);
  assert.equal(info.explanationURL, 'https://status.hearth.test/incident-7');

  const env = { ...bed.installation.env, HEARTH_URL: bed.server.apiUrl };
  const cli = runCli(['cert', 'renew-early', '--dir', bed.installation.dir, serialOf(second), '--within', '120'], env);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /^1 certificate\(s\) to renew between \S+ and \S+/);
  const viaCli = (await renewalInfo(ariId(second))).body.suggestedWindow;
  assert.equal(Date.parse(viaCli.end) - Date.parse(viaCli.start), 120_000);
  assert.deepEqual((await renewalInfo(ariId(untouched))).body.suggestedWindow, before, 'a certificate nobody chose keeps its window');

  const refused = runCli(['cert', 'renew-early', '--dir', bed.installation.dir, serialOf(second), '--ca', 'services'], env);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /either serials or a ca/);
  await assert.rejects(bed.server.client.call('POST', '/api/v1/renewal-windows', { ca: 'services', withinSeconds: 5 }), /withinSeconds|must be >= 60/);
});

test('a revoked certificate is to be renewed at once', async () => {
  const { client } = await account();
  const { chainPem } = await obtainCertificate(bed, client, ['ari-revoked.hearth.test']);
  await client.revokeCertificate(chainPem, { reason: 1 });
  const window = (await renewalInfo(ariId(leafOf(chainPem)))).body.suggestedWindow;
  assert.ok(Date.parse(window.end) <= Date.now() + 60_000, `window ${JSON.stringify(window)} is over within a minute`);
  assert.ok(Date.parse(window.start) < Date.parse(window.end));
});

test('replaces in newOrder: accepted once for the same account and a shared name; refused otherwise', async () => {
  const owner = await account();
  const leaf = leafOf((await obtainCertificate(bed, owner.client, ['replace-me.hearth.test'])).chainPem);
  const id = ariId(leaf);
  const order = (replaces: unknown, who = owner, names = ['replace-me.hearth.test']) =>
    wire.post('/new-order', who.key, { identifiers: names.map((value) => ({ type: 'dns', value })), replaces }, who.kid);

  assertProblem(await order(id, owner, ['other.hearth.test']), 400, 'malformed', /shares no identifier/);
  const stranger = await account();
  assertProblem(await order(id, stranger), 403, 'unauthorized', /not issued to this account/);
  assertProblem(await order('garbage'), 400, 'malformed');
  assertProblem(await order(42), 400, 'malformed');
  const accepted = await order(id);
  assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
  assertProblem(await order(id), 409, 'alreadyReplaced');
});
