/**
 * Two `hearth serve` processes on one data directory, sharing one PostgreSQL schema and one NATS
 * JetStream bus: what one issues the other serves, and a revocation made through one reaches the
 * other's OCSP cache and CRL within a second, checked with the real openssl binary.
 *
 * The JetStream stream (HEARTH_EVENTS) is shared with every other run on this NATS server, so
 * the assertions only concern serials this test issued in its own schema.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import type { ApiError } from '../../src/cli/api-client.js';
import { NATS_URL, POSTGRES_URL, needsNats, needsOpenssl, needsPostgres } from '../support/environment.js';
import { initInstallation, listAllCertificates, openssl, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

interface View {
  serial: string;
  identifier: string;
  state: string;
  certificate: string;
  revocationReason: string | null;
}

const skip = (await needsPostgres()) ?? (await needsNats()) ?? (await needsOpenssl());
const PROPAGATION_BUDGET_MS = 1000;

describe('two control-plane processes sharing PostgreSQL and NATS', { skip }, () => {
  const schema = `hearth_mp_${randomBytes(6).toString('hex')}`;
  let installation: Installation | undefined;
  let a: RunningServer | undefined;
  let b: RunningServer | undefined;
  let deviceNumber = 0;

  before(async () => {
    installation = await initInstallation(['--database-url', POSTGRES_URL, '--database-schema', schema, '--bus-url', NATS_URL]);
    const inst = installation;
    // Started together, as a rolling deployment would: neither may trip over the other.
    [a, b] = await Promise.all([startServer(inst), startServer(inst)]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await installation?.cleanup();
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });

  function servers(): { inst: Installation; a: RunningServer; b: RunningServer } {
    assert.ok(installation && a && b, 'set up in before()');
    return { inst: installation, a, b };
  }

  async function issueThrough(server: RunningServer): Promise<{ view: View; file: string }> {
    const { inst } = servers();
    const n = ++deviceNumber;
    const id = `urn:dev:ops:acme-plug-${schema}-${n}`;
    const request = await createKeyAndRequest({ commonName: id, uris: [id] });
    const view = await server.client.call<View>('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'device' });
    const file = join(inst.dir, `device-${n}.pem`);
    writeFileSync(file, view.certificate);
    return { view, file };
  }

  /** `openssl ocsp -no_nonce`: the RFC 5019 request the responder answers from its cache. */
  function ocspStatus(server: RunningServer, certFile: string): string {
    const { inst } = servers();
    const ca = (name: string) => join(inst.dir, 'ca', `${name}.pem`);
    const result = openssl([
      'ocsp',
      '-no_nonce',
      '-issuer',
      ca('devices'),
      '-cert',
      certFile,
      '-url',
      `${server.httpUrl}/ocsp`,
      '-CAfile',
      ca('root'),
      '-verify_other',
      ca('devices'),
    ]);
    assert.match(result.out, /Response verify OK/, result.out);
    const status = new RegExp(`${certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (good|revoked|unknown)`).exec(result.out)?.[1];
    assert.ok(status, result.out);
    return status;
  }

  /** Serials (lower-case hex, as the API shows them) listed in the server's devices CRL. */
  async function crlSerials(server: RunningServer): Promise<string[]> {
    const { inst } = servers();
    const response = await fetch(`${server.httpUrl}/crl/devices.crl`);
    assert.equal(response.status, 200);
    const der = join(inst.dir, `devices-${randomBytes(4).toString('hex')}.crl`);
    writeFileSync(der, Buffer.from(await response.arrayBuffer()));
    const text = openssl(['crl', '-inform', 'DER', '-in', der, '-noout', '-text', '-CAfile', join(inst.dir, 'ca', 'devices.pem')]);
    assert.match(text.out, /verify OK/, text.out);
    return [...text.out.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => (m[1] as string).toLowerCase());
  }

  async function ocspGoodCount(server: RunningServer): Promise<number> {
    // Metrics are on the HTTPS API, for a token (never sent in the clear to the HTTP server).
    const metrics = await server.metrics();
    return Number(/hearth_ocsp_responses_total\{outcome="good"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  }

  const sameSerial = (listed: string, serial: string) => listed.replace(/^0+/, '') === serial.toLowerCase().replace(/^0+/, '');

  test('a revocation through A reaches B (store, OCSP cache, CRL) within a second', async () => {
    const { a, b } = servers();
    const { view, file } = await issueThrough(a);
    assert.equal(view.state, 'issued');

    const readBack = await b.client.call<View>('GET', `/api/v1/certificates/${view.serial}`);
    assert.equal(readBack.state, 'issued');
    assert.equal(readBack.certificate, view.certificate);

    assert.equal(ocspStatus(b, file), 'good');
    const signedAfterFirst = await ocspGoodCount(b);
    assert.equal(ocspStatus(b, file), 'good');
    // The second answer came from the cache (nothing new was signed), so only an invalidation
    // can turn it into "revoked" before the cached response's hours-long refresh time.
    assert.equal(await ocspGoodCount(b), signedAfterFirst, 'the second no-nonce response should be served from the cache');
    assert.ok(!(await crlSerials(b)).some((s) => sameSerial(s, view.serial)));

    const started = performance.now();
    const revoked = await a.client.call<View>('POST', `/api/v1/certificates/${view.serial}/revoke`, { reason: 'keyCompromise' });
    const revokeReturned = performance.now();
    assert.equal(revoked.state, 'revoked');

    let ocspAt: number | undefined;
    let crlAt: number | undefined;
    let polls = 0;
    // The budget starts once A has answered; each poll spawns openssl, which on a loaded machine
    // takes a good part of it, so the printed times are upper bounds of the propagation itself.
    while ((ocspAt === undefined || crlAt === undefined) && performance.now() - revokeReturned < PROPAGATION_BUDGET_MS) {
      polls++;
      if (ocspAt === undefined && ocspStatus(b, file) === 'revoked') ocspAt = performance.now();
      if (crlAt === undefined && (await crlSerials(b)).some((s) => sameSerial(s, view.serial))) crlAt = performance.now();
    }
    const ms = (t: number | undefined) => (t === undefined ? 'not within budget' : `${(t - started).toFixed(0)} ms`);
    console.log(
      `revocation through A: the API call took ${(revokeReturned - started).toFixed(0)} ms; counted from the request, ` +
        `B's OCSP said revoked after ${ms(ocspAt)} and B's CRL listed it after ${ms(crlAt)} (${polls} polls of openssl)`,
    );
    assert.ok(ocspAt !== undefined, `B's OCSP still said good ${PROPAGATION_BUDGET_MS} ms after the revocation through A`);
    assert.ok(crlAt !== undefined, `B's CRL did not list ${view.serial} within ${PROPAGATION_BUDGET_MS} ms`);

    await assert.rejects(
      b.client.call('POST', `/api/v1/certificates/${view.serial}/revoke`, { reason: 'superseded' }),
      (err: ApiError) => err.status === 409 && /already revoked/.test(err.message),
    );
    const shown = await b.client.call<View>('GET', `/api/v1/certificates/${view.serial}`);
    assert.equal(shown.revocationReason, 'keyCompromise');
  });

  test('concurrent issuance through both processes gives distinct serials that both list', async () => {
    const { a, b } = servers();
    const issued = await Promise.all(Array.from({ length: 20 }, (_, i) => issueThrough(i % 2 === 0 ? a : b)));
    const serials = issued.map(({ view }) => view.serial);
    assert.equal(new Set(serials).size, serials.length, 'serials must be distinct');
    assert.ok(issued.every(({ view }) => view.state === 'issued'));

    const [listedByA, listedByB] = await Promise.all([listAllCertificates(a.client, 7), listAllCertificates(b.client, 7)]);
    const serialsOf = (list: { serial: string }[]) => new Set(list.map((c) => c.serial));
    for (const serial of serials) {
      assert.ok(serialsOf(listedByA).has(serial), `A does not list ${serial}`);
      assert.ok(serialsOf(listedByB).has(serial), `B does not list ${serial}`);
    }
    assert.deepEqual(serialsOf(listedByA), serialsOf(listedByB));
  });
});
