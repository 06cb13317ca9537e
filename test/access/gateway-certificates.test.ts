/**
 * GatewayCertificates.authenticate, decision by decision, with real certificates the authority
 * issues over a real SQLite store, presented on a socket double (the TLS layer's verdict is given,
 * so each check after it is reached alone): no certificate is no gateway (a bearer-token client);
 * a certificate the handshake did not accept, one this installation never issued, a revoked one, a
 * services certificate for a registered gateway's very name, a gateway certificate of an
 * unregistered or retired gateway, or one issued before the gateway's current registration, are
 * each refused 401 with the reason; the validity window is the control plane's clock's, both ends
 * to the second. The TLS-level attacks (foreign CA, forged issuer) run over real TLS in
 * test/integration/gateway-authentication.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { GatewayCertificates } from '../../src/access/gateway-certificate.js';
import { UnauthorizedError } from '../../src/core/errors.js';
import { ManualClock } from '../../src/core/clock.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import { START, buildIssuingCas, openHarness, type Harness } from '../authority/authority-fixtures.js';
import { memberOf } from '../support/proxy-member.js';

const GATEWAY = 'gw-one.home.test';
let h: Harness;
let gateways: GatewayCertificates;

before(async () => {
  h = await openHarness({ cas: await buildIssuingCas(new ManualClock(START)) });
  gateways = new GatewayCertificates((h.cas.get('services') as IssuingCa).certificate.der, h.store, h.clock);
  await h.store.gateways.insertGateway({ name: GATEWAY, eabKid: 'kid-gw-one', status: 'active', createdAt: START, retiredAt: null, home: null });
});
after(() => h.close());

function socket(der: Uint8Array | undefined, authorized = true): TLSSocket {
  const peer = der ? new X509Certificate(Buffer.from(der)) : undefined;
  return { authorized, authorizationError: authorized ? null : 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', getPeerX509Certificate: () => peer } as unknown as TLSSocket;
}

async function issue(profile: 'gateway' | 'service', name = GATEWAY): Promise<Uint8Array> {
  const { csrPem } = await createKeyAndRequest({ commonName: name, dnsNames: [name] });
  return (await h.authority.issue({ csr: csrPem, profile })).der;
}

async function refused(der: Uint8Array | undefined, message: RegExp, authorized = true): Promise<void> {
  await assert.rejects(gateways.authenticate(socket(der, authorized)), (error: unknown) => {
    assert.ok(error instanceof UnauthorizedError, String(error));
    assert.equal(error.status, 401);
    assert.match(error.message, message);
    return true;
  });
}

test("a registered gateway's own certificate is that gateway; no certificate at all is no gateway, not a refusal", async () => {
  assert.deepEqual(await gateways.authenticate(socket(await issue('gateway'))), { id: `gateway:${GATEWAY}`, role: 'gateway' });
  assert.equal(await gateways.authenticate(socket(undefined, false)), undefined, 'a bearer-token client sends no certificate and is not refused here');
  assert.equal(
    await gateways.authenticate({ authorized: false } as unknown as TLSSocket),
    undefined,
    'a plain socket, with no peer certificate to ask for, is no gateway either',
  );
});

test('a certificate the TLS handshake did not accept is refused with the reason it gave', async () => {
  await refused(await issue('gateway'), /^the client certificate was not accepted: UNABLE_TO_VERIFY_LEAF_SIGNATURE$/, false);
});

test("a services certificate for the registered gateway's very name is no gateway certificate", async () => {
  await refused(await issue('service'), /is a service certificate; only a registered gateway's certificate \(gateway profile\) speaks for a gateway$/);
});

test('a revoked gateway certificate, and one this installation has no record of, are refused', async () => {
  const der = await issue('gateway');
  const serial = new X509Certificate(Buffer.from(der)).serialNumber.toLowerCase().replace(/^(00)+/, '');
  await h.authority.revoke(serial, 1);
  await refused(der, new RegExp(`^the client certificate ${serial} is revoked$`));

  // The same CA's signature, but the store lost the record (a restored backup, another installation with this CA).
  const other = await issue('gateway');
  const otherSerial = new X509Certificate(Buffer.from(other)).serialNumber.toLowerCase().replace(/^(00)+/, '');
  const stripped = new Proxy(h.store, {
    get(inner, property) {
      if (property === 'certificates') {
        return new Proxy(inner.certificates, {
          get(c, p) {
            if (p === 'getCertificate') return async (s: string) => (s === otherSerial ? undefined : c.getCertificate(s));
            return memberOf(c, p);
          },
        });
      }
      return memberOf(inner, property);
    },
  });
  const forgetful = new GatewayCertificates((h.cas.get('services') as IssuingCa).certificate.der, stripped, h.clock);
  await assert.rejects(
    forgetful.authenticate(socket(other)),
    new RegExp(`^UnauthorizedError: the client certificate ${otherSerial} was not issued by this installation$`),
  );
});

test('a gateway certificate of a gateway that was retired, or registered again since, does not speak for it', async () => {
  const name = 'gw-two.home.test';
  await h.store.gateways.insertGateway({ name, eabKid: 'kid-gw-two', status: 'active', createdAt: START, retiredAt: null, home: null });
  const before = await issue('gateway', name);
  assert.equal((await gateways.authenticate(socket(before)))?.id, `gateway:${name}`);
  await h.store.gateways.retireGateway(name, START);
  await refused(before, /^gw-two\.home\.test is not a registered, active gateway$/);

  // A registration newer than the certificate (a new gateway under an old name): the certificate predates it.
  const third = 'gw-three.home.test';
  h.clock.advance(1000);
  await h.store.gateways.insertGateway({ name: third, eabKid: 'kid-gw-three', status: 'active', createdAt: h.clock.now(), retiredAt: null, home: null });
  const current = await issue('gateway', third);
  assert.equal((await gateways.authenticate(socket(current)))?.id, `gateway:${third}`);
  const registeredLater = new Proxy(h.store, {
    get(inner, property) {
      if (property === 'gateways') {
        return new Proxy(inner.gateways, {
          get(g, p) {
            if (p === 'getGateway') return async (n: string) => ({ ...(await g.getGateway(n))!, createdAt: new Date(h.clock.now().getTime() + 1) });
            return memberOf(g, p);
          },
        });
      }
      return memberOf(inner, property);
    },
  });
  const afterRegistration = new GatewayCertificates((h.cas.get('services') as IssuingCa).certificate.der, registeredLater, h.clock);
  await assert.rejects(
    afterRegistration.authenticate(socket(current)),
    /^UnauthorizedError: the client certificate [0-9a-f]+ was issued before gw-three\.home\.test was registered$/,
  );
});

test('a gateway-profile certificate whose name has no registration speaks for no gateway: 401, not a crash', async () => {
  // Issuance refuses unregistered names, so the registration is taken away after the fact.
  const der = await issue('gateway');
  const unregistered = new Proxy(h.store, {
    get(inner, property) {
      if (property === 'gateways') {
        return new Proxy(inner.gateways, {
          get(g, p) {
            if (p === 'getGateway') return async () => undefined;
            return memberOf(g, p);
          },
        });
      }
      return memberOf(inner, property);
    },
  });
  const at = new GatewayCertificates((h.cas.get('services') as IssuingCa).certificate.der, unregistered, h.clock);
  await assert.rejects(at.authenticate(socket(der)), /^UnauthorizedError: gw-one\.home\.test is not a registered, active gateway$/);
});

test("the validity window is the control plane's clock's: valid from notBefore to just before notAfter", async () => {
  const der = await issue('gateway');
  const cert = new X509Certificate(Buffer.from(der));
  const clock = new ManualClock(new Date(cert.validFrom));
  const at = new GatewayCertificates((h.cas.get('services') as IssuingCa).certificate.der, h.store, clock);
  assert.equal((await at.authenticate(socket(der)))?.role, 'gateway', 'at notBefore');
  clock.set(new Date(Date.parse(cert.validFrom) - 1));
  await assert.rejects(at.authenticate(socket(der)), /outside its validity period/);
  clock.set(new Date(Date.parse(cert.validTo) - 1));
  assert.equal((await at.authenticate(socket(der)))?.role, 'gateway', 'a millisecond before notAfter');
  clock.set(new Date(cert.validTo));
  await assert.rejects(at.authenticate(socket(der)), /outside its validity period/);
});
