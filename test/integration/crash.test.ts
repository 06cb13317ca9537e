/**
 * Crash safety of issuance: `hearth serve` is SIGKILLed while a burst of concurrent issuances is
 * in flight, then restarted on the same data directory. Everything the API ever returned must
 * still be there byte for byte, revocations must survive into the CRL and OCSP, and rows the
 * crash interrupted may only be `pending` without a certificate (Boulder's pending-then-issued
 * order means a signed certificate nobody recorded cannot exist).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createKeyAndRequest } from '../../src/device/certificate-request.js';
import { needsOpenssl } from '../support/environment.js';
import { initInstallation, listAllCertificates, openssl, opensslOcsp, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

const skip = await needsOpenssl();

const BURST = 300;
const IN_FLIGHT = 16;
const KILL_AFTER_RESPONSES = 100;
/** Revoked once this many responses came back, well before the kill. */
const REVOKE_AFTER_RESPONSES = 10;
const REVOCATIONS = [
  { index: 0, reason: 'keyCompromise' },
  { index: 3, reason: 'superseded' },
] as const;

interface View {
  serial: string;
  state: string;
  certificate: string | null;
  revocationReason: string | null;
}

interface Returned {
  serial: string;
  der: Buffer;
}

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
/** The API spells serials as whole bytes, openssl and node:crypto as the bare number, upper-case. */
const normalSerial = (hex: string) => hex.toLowerCase().replace(/^0+(?=.)/, '');
const deviceId = (n: number) => `urn:dev:ops:acme-plug-${String(n).padStart(5, '0')}`;

describe('crash safety of issuance', { skip }, () => {
  let installation: Installation;
  let server: RunningServer | undefined;
  let work: string;
  /** In the order the API answered. */
  const returned: Returned[] = [];
  const revoked = new Map<string, string>();
  let started = 0;
  let inFlightAtKill = 0;

  before(async () => {
    installation = await initInstallation();
    work = join(dirname(installation.dir), 'work');
    mkdirSync(work);
  });
  after(async () => {
    await server?.kill();
    await installation?.cleanup();
  });

  const certificateFile = (name: string, der: Buffer) => {
    const file = join(work, `${name}.pem`);
    writeFileSync(file, new X509Certificate(der).toString());
    return file;
  };

  test('Killing the server with SIGKILL in the middle of a burst of issuances loses nothing', async (t) => {
    // CSRs are made up front so the burst is limited by the server, not by key generation.
    const csrs = await Promise.all(Array.from({ length: BURST }, (_, n) => createKeyAndRequest({ uris: [deviceId(n)] }).then((r) => r.csrPem)));
    const first = await startServer(installation);
    server = first;

    let inFlight = 0;
    let killed = false;
    let revocationsDone: Promise<void> | undefined;
    let killedAt: Promise<void> | undefined;

    const onResponse = () => {
      if (returned.length === REVOKE_AFTER_RESPONSES && !revocationsDone) {
        revocationsDone = (async () => {
          for (const { index, reason } of REVOCATIONS) {
            const target = returned[index] as Returned;
            const view = await first.client.call<View>('POST', `/api/v1/certificates/${target.serial}/revoke`, { reason });
            assert.equal(view.state, 'revoked');
            revoked.set(target.serial, reason);
          }
        })();
      }
      if (returned.length >= KILL_AFTER_RESPONSES && revocationsDone && !killedAt) {
        // The revocations were answered long ago; waiting for them keeps the expected set exact.
        killedAt = revocationsDone.then(async () => {
          killed = true;
          inFlightAtKill = inFlight;
          await first.kill();
        });
      }
    };

    const worker = async () => {
      while (!killed && started < BURST) {
        const csr = csrs[started++] as string;
        inFlight++;
        let view: View;
        try {
          view = await first.client.call<View>('POST', '/api/v1/certificates', { csr, profile: 'device' });
        } catch (err) {
          // Only the kill may make a request fail.
          if (killed) continue;
          throw err;
        } finally {
          inFlight--;
        }
        // A response can still arrive after the kill (already in the socket buffer); it counts too.
        assert.equal(view.state, 'issued');
        returned.push({ serial: view.serial, der: derOf(view.certificate as string) });
        onResponse();
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    assert.ok(killedAt, `the burst ended before the kill (${returned.length} responses)`);
    await killedAt;
    await revocationsDone;
    assert.ok(inFlightAtKill > 0, 'no request was in flight when the server was killed');
    assert.ok(returned.length >= KILL_AFTER_RESPONSES && returned.length < started, `${returned.length} answered of ${started} sent`);
    assert.equal(revoked.size, REVOCATIONS.length);

    server = await startServer(installation);
    const { client, httpUrl } = server;

    // Every answer the API gave is still there, byte for byte, in the state it had.
    for (const { serial, der } of returned) {
      assert.equal(normalSerial(new X509Certificate(der).serialNumber), normalSerial(serial), 'the returned serial is the certificate\'s');
      const view = await client.call<View>('GET', `/api/v1/certificates/${serial}`);
      assert.equal(view.state, revoked.has(serial) ? 'revoked' : 'issued', serial);
      assert.equal(view.revocationReason, revoked.get(serial) ?? null);
      assert.ok(view.certificate, `${serial} lost its certificate`);
      assert.ok(derOf(view.certificate).equals(der), `${serial} changed its DER`);
    }

    // The full listing: no duplicates; rows the crash cut off are pending and unsigned.
    const listing = await listAllCertificates(client);
    const serials = listing.map((c) => c.serial);
    assert.equal(new Set(serials).size, serials.length, 'a serial is listed twice');
    const listed = new Set(serials);
    for (const { serial } of returned) assert.ok(listed.has(serial), `${serial} missing from the listing`);
    // The one extra row is the control plane's own TLS certificate from `hearth init`.
    assert.ok(listing.length <= started + 1, `${listing.length} rows for ${started} requests`);
    for (const row of listing) {
      if (row.state === 'pending') assert.equal(row.certificate, null, `pending ${row.serial} has a certificate`);
      else assert.ok(row.certificate, `${row.state} ${row.serial} has no certificate`);
    }
    const pending = listing.filter((c) => c.state === 'pending').length;
    t.diagnostic(`${started} sent, ${returned.length} answered, ${inFlightAtKill} in flight at the kill, ${listing.length} rows after restart (${pending} pending)`);
    assert.deepEqual(new Set(listing.filter((c) => c.state === 'revoked').map((c) => c.serial)), new Set(revoked.keys()));

    // The CRL the restarted server publishes is signed by the devices CA and lists exactly the revoked serials.
    const response = await fetch(`${httpUrl}/crl/devices.crl`);
    assert.equal(response.status, 200);
    const crlFile = join(work, 'devices.crl');
    writeFileSync(crlFile, Buffer.from(await response.arrayBuffer()));
    const crlCheck = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-CAfile', join(installation.dir, 'ca/devices.pem')]);
    assert.match(crlCheck.out, /verify OK/);
    const crlText = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']);
    assert.equal(crlText.status, 0, crlText.out);
    const crlSerials = [...crlText.out.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].map((m) => normalSerial(m[1] as string));
    assert.deepEqual(new Set(crlSerials), new Set([...revoked.keys()].map(normalSerial)));
    assert.equal(crlSerials.length, revoked.size);

    // OCSP from the restarted server: revoked for the revoked ones, good for a sample of the rest.
    for (const [serial, reason] of revoked) {
      const file = certificateFile(serial, (returned.find((r) => r.serial === serial) as Returned).der);
      const answer = opensslOcsp(installation.dir, httpUrl, file);
      assert.match(answer.out, /Response verify OK/);
      assert.match(answer.out, new RegExp(`${file}: revoked`));
      assert.match(answer.out, new RegExp(`Reason: ${reason}`));
    }
    const stillGood = returned.filter((r) => !revoked.has(r.serial));
    const sample = [0, 1, Math.floor(stillGood.length / 2), stillGood.length - 2, stillGood.length - 1].map((i) => stillGood[i] as Returned);
    for (const { serial, der } of sample) {
      const file = certificateFile(serial, der);
      const answer = opensslOcsp(installation.dir, httpUrl, file);
      assert.match(answer.out, /Response verify OK/);
      assert.match(answer.out, new RegExp(`${file}: good`));
    }

    // Issuance carries on after the restart.
    const next = await createKeyAndRequest({ uris: [deviceId(BURST)] });
    const issued = await client.call<View>('POST', '/api/v1/certificates', { csr: next.csrPem, profile: 'device' });
    assert.equal(issued.state, 'issued');
    assert.ok(!listed.has(issued.serial));
    const file = certificateFile('after-restart', derOf(issued.certificate as string));
    const ca = (name: string) => join(installation.dir, 'ca', `${name}.pem`);
    const verify = openssl(['verify', '-CAfile', ca('root'), '-untrusted', ca('devices'), file]);
    assert.equal(verify.status, 0, verify.out);
  });
});
