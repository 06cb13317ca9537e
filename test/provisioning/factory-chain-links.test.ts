/**
 * Factory chain links (issue 20, family 2): every link of an attestation chain (factory
 * certificate → intermediate, intermediate → intermediate, intermediate → root, factory
 * certificate → root) must be proven by its signature. Each forged link here carries exactly
 * the issuer name and authority key identifier of the certificate it claims as issuer, so that
 * name and key-identifier matching (X509Certificate.checkIssued) accept it and only the
 * signature check can refuse it; the tests assert that premise. Mutation testing found that
 * deleting the signature check between intermediates failed no test, and the existing forged
 * links (other.leaf under h.intermediate, other.intermediate under h.root) carry another key
 * identifier, so they do not exercise the signature checks of the other links either. Correctly
 * signed chains of the same shapes are verified first, so no refusal is vacuous. The last test
 * is the converse: a link signed by the right key under another issuer name is refused too
 * (RFC 5280 name chaining), so neither half of a link's check can go unnoticed.
 */
import 'reflect-metadata';
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { createFactoryCertificate, generateCaKeys, generateDeviceKeys } from '../../src/provisioning/factory/attestation-certificates.js';
import { FactoryChainError, FactoryChainVerifier } from '../../src/provisioning/attestation/factory-chain.js';
import { factoryChain } from '../support/factory-chain.js';

const now = new Date();
const der = (certificate: x509.X509Certificate) => new Uint8Array(certificate.rawData);

/** A CA certificate: `issuer` names the issuer and gives the authority key identifier; `signingKey` signs it (the issuer's key, unless forged). */
async function caCertificate(spec: {
  commonName: string;
  publicKey: CryptoKey;
  issuer: x509.X509Certificate | 'self';
  signingKey: CryptoKey;
  pathLength: number;
}): Promise<x509.X509Certificate> {
  const subject = new x509.Name([{ '2.5.4.10': [{ utf8String: 'Acme' }] }, { '2.5.4.3': [{ utf8String: spec.commonName }] }]);
  return x509.X509CertificateGenerator.create({
    serialNumber: `1${randomBytes(8).toString('hex').slice(1)}`,
    subject,
    issuer: spec.issuer === 'self' ? subject : spec.issuer.subjectName,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 10 * 365 * 86_400_000),
    publicKey: spec.publicKey,
    signingKey: spec.signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: [
      new x509.BasicConstraintsExtension(true, spec.pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(spec.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(spec.issuer === 'self' ? spec.publicKey : spec.issuer.publicKey),
    ],
  });
}

/** A factory certificate naming `issuer` (its name and key identifier), signed with `signingKey`. */
async function factoryCertificate(serial: string, issuer: x509.X509Certificate, signingKey: CryptoKey): Promise<x509.X509Certificate> {
  return createFactoryCertificate({
    manufacturer: 'Acme',
    country: 'US',
    model: 'thermo1',
    serial,
    publicKey: (await generateDeviceKeys()).publicKey,
    intermediate: issuer,
    intermediateKey: signingKey,
    now,
  });
}

/** The premise of a forged link: name and key identifier say `issuer` issued `cert`, the signature says otherwise. */
function forgedLink(cert: x509.X509Certificate, issuer: x509.X509Certificate, what: string): void {
  const [c, i] = [new X509Certificate(der(cert)), new X509Certificate(der(issuer))];
  assert.equal(c.checkIssued(i), true, `${what}: issuer name and key identifier match`);
  assert.equal(c.verify(i.publicKey), false, `${what}: the signature is not the issuer's`);
}

function refuses(verifier: FactoryChainVerifier, chain: x509.X509Certificate[], failure: string, message: RegExp): void {
  assert.throws(
    () => verifier.verify(chain.map(der), now),
    (error: unknown) => {
      assert.ok(error instanceof FactoryChainError, String(error));
      assert.equal(error.failure, failure, error.message);
      assert.match(error.message, message);
      return true;
    },
  );
}

/** Root → intermediate 1 → intermediate 2, correctly signed, and an attacker's CA key. */
let rootKeys: CryptoKeyPair;
let root: x509.X509Certificate;
let firstKeys: CryptoKeyPair;
let first: x509.X509Certificate;
let second: x509.X509Certificate;
let secondKeys: CryptoKeyPair;
let attacker: CryptoKeyPair;

before(async () => {
  rootKeys = await generateCaKeys();
  root = await caCertificate({
    commonName: 'Acme Attestation Root CA',
    publicKey: rootKeys.publicKey,
    issuer: 'self',
    signingKey: rootKeys.privateKey,
    pathLength: 2,
  });
  firstKeys = await generateCaKeys();
  first = await caCertificate({
    commonName: 'Acme Attestation CA 1',
    publicKey: firstKeys.publicKey,
    issuer: root,
    signingKey: rootKeys.privateKey,
    pathLength: 1,
  });
  secondKeys = await generateCaKeys();
  second = await caCertificate({
    commonName: 'Acme Attestation CA 2',
    publicKey: secondKeys.publicKey,
    issuer: first,
    signingKey: firstKeys.privateKey,
    pathLength: 0,
  });
  attacker = await generateCaKeys();
});

const verifierFor = (...roots: x509.X509Certificate[]) => new FactoryChainVerifier(roots.map((r) => ({ manufacturer: 'Acme', der: der(r) })));

test('a chain of two intermediates verifies; one whose second intermediate is not signed by the first is refused, though it names the first and its key identifier', async () => {
  const genuineLeaf = await factoryCertificate('SN-1', second, secondKeys.privateKey);
  const shared = verifierFor(root);
  for (const chain of [
    [genuineLeaf, second, first],
    [genuineLeaf, second, first, root],
  ]) {
    const identity = shared.verify(chain.map(der), now);
    assert.deepEqual([identity.manufacturer, identity.serial, identity.model], ['Acme', 'SN-1', 'thermo1']);
  }

  // The attacker's intermediate 2: intermediate 1's name as issuer and its key identifier, signed
  // by the attacker's key; the factory certificate under it is properly signed by the attacker's intermediate.
  const forgedKeys = await generateCaKeys();
  const forgedSecond = await caCertificate({
    commonName: 'Acme Attestation CA 2',
    publicKey: forgedKeys.publicKey,
    issuer: first,
    signingKey: attacker.privateKey,
    pathLength: 0,
  });
  const forgedLeaf = await factoryCertificate('SN-2', forgedSecond, forgedKeys.privateKey);
  forgedLink(forgedSecond, first, 'intermediate 2 → intermediate 1');
  assert.equal(
    new X509Certificate(der(forgedLeaf)).verify(new X509Certificate(der(forgedSecond)).publicKey),
    true,
    'the factory certificate → intermediate 2 link is sound',
  );
  for (const verifier of [verifierFor(root), shared]) {
    refuses(verifier, [forgedLeaf, forgedSecond, first], 'bad-signature', /^certificate 2 of the chain is not signed by certificate 3$/);
    refuses(verifier, [forgedLeaf, forgedSecond, first, root], 'bad-signature', /^certificate 2 of the chain is not signed by certificate 3$/);
  }
  // The genuine chain still verifies after the refusals (nothing forged was remembered).
  assert.equal(shared.verify([genuineLeaf, second, first].map(der), now).serial, 'SN-1');
});

test('a chain whose first intermediate is not signed by the root it names is refused, with two intermediates or one', async () => {
  // Intermediate 1 names the root and its key identifier but is signed by the attacker; below it everything is properly signed.
  const forgedFirstKeys = await generateCaKeys();
  const forgedFirst = await caCertificate({
    commonName: 'Acme Attestation CA 1',
    publicKey: forgedFirstKeys.publicKey,
    issuer: root,
    signingKey: attacker.privateKey,
    pathLength: 1,
  });
  const belowKeys = await generateCaKeys();
  const below = await caCertificate({
    commonName: 'Acme Attestation CA 2',
    publicKey: belowKeys.publicKey,
    issuer: forgedFirst,
    signingKey: forgedFirstKeys.privateKey,
    pathLength: 0,
  });
  const leafTwo = await factoryCertificate('SN-3', below, belowKeys.privateKey);
  const leafOne = await factoryCertificate('SN-4', forgedFirst, forgedFirstKeys.privateKey);
  forgedLink(forgedFirst, root, 'intermediate 1 → root');

  const verifier = verifierFor(root);
  // The same shapes, genuine, pass.
  assert.equal(verifier.verify([await factoryCertificate('SN-5', second, secondKeys.privateKey), second, first].map(der), now).serial, 'SN-5');
  // Ending below the root: the root that would issue the top certificate is looked up by signature.
  refuses(verifier, [leafTwo, below, forgedFirst], 'unknown-root', /^the factory chain does not lead to a registered manufacturer root$/);
  refuses(verifier, [leafOne, forgedFirst], 'unknown-root', /^the factory chain does not lead to a registered manufacturer root$/);
  // Ending with the root itself: the link to it is checked like any other.
  refuses(verifier, [leafTwo, below, forgedFirst, root], 'bad-signature', /^certificate 3 of the chain is not signed by certificate 4$/);
  refuses(verifier, [leafOne, forgedFirst, root], 'bad-signature', /^certificate 2 of the chain is not signed by certificate 3$/);
});

test('a factory certificate not signed by the intermediate it names is refused, and one not signed by the root it names', async () => {
  const verifier = verifierFor(root);
  // Under two intermediates.
  const forgedUnderSecond = await factoryCertificate('SN-6', second, attacker.privateKey);
  forgedLink(forgedUnderSecond, second, 'factory certificate → intermediate 2');
  refuses(verifier, [forgedUnderSecond, second, first], 'bad-signature', /^the factory certificate is not signed by the intermediate that follows it$/);
  refuses(verifier, [forgedUnderSecond, second, first, root], 'bad-signature', /^the factory certificate is not signed by the intermediate that follows it$/);

  // Under the usual one intermediate (test/support/factory-chain.ts), once that intermediate is remembered as verified.
  const h = await factoryChain(now);
  const usual = new FactoryChainVerifier([{ manufacturer: 'Acme', der: h.root }]);
  assert.equal(usual.verify([h.leaf, h.intermediate], now).serial, 'SN-1');
  const intermediate = new x509.X509Certificate(h.intermediate);
  const forged = await factoryCertificate('SN-1', intermediate, attacker.privateKey);
  forgedLink(forged, intermediate, 'factory certificate → intermediate');
  refuses(usual, [forged, intermediate], 'bad-signature', /^the factory certificate is not signed by the intermediate that follows it$/);

  // Directly under the root, with no intermediate: a genuine one passes, a forged one is refused.
  const rootKeysLeaf = await factoryCertificate('SN-7', new x509.X509Certificate(h.root), h.rootKeys.privateKey);
  assert.equal(usual.verify([der(rootKeysLeaf)], now).serial, 'SN-7');
  const forgedUnderRoot = await factoryCertificate('SN-8', new x509.X509Certificate(h.root), attacker.privateKey);
  forgedLink(forgedUnderRoot, new x509.X509Certificate(h.root), 'factory certificate → root');
  refuses(usual, [forgedUnderRoot], 'unknown-root', /^the factory certificate is not issued by a registered manufacturer root$/);
});

test("a link signed with the issuer's key but naming another issuer is refused: factory certificate, intermediate and root links", async () => {
  const verifier = verifierFor(root);
  /** The same key under another name: what a certificate names as issuer when it names the wrong one. */
  const renamed = (commonName: string, keys: CryptoKeyPair) =>
    caCertificate({ commonName, publicKey: keys.publicKey, issuer: 'self', signingKey: keys.privateKey, pathLength: 1 });
  const misnamed = (cert: x509.X509Certificate, issuer: x509.X509Certificate, what: string) => {
    const [c, i] = [new X509Certificate(der(cert)), new X509Certificate(der(issuer))];
    assert.equal(c.verify(i.publicKey), true, `${what}: the signature is the issuer's`);
    assert.equal(c.checkIssued(i), false, `${what}: the issuer name is not`);
  };

  const leaf = await factoryCertificate('SN-9', await renamed('Acme Attestation CA 9', secondKeys), secondKeys.privateKey);
  misnamed(leaf, second, 'factory certificate → intermediate 2');
  refuses(verifier, [leaf, second, first], 'bad-signature', /^the factory certificate is not signed by the intermediate that follows it$/);

  const middleKeys = await generateCaKeys();
  const middle = await caCertificate({
    commonName: 'Acme Attestation CA 2',
    publicKey: middleKeys.publicKey,
    issuer: await renamed('Acme Attestation CA 8', firstKeys),
    signingKey: firstKeys.privateKey,
    pathLength: 0,
  });
  misnamed(middle, first, 'intermediate 2 → intermediate 1');
  refuses(
    verifier,
    [await factoryCertificate('SN-10', middle, middleKeys.privateKey), middle, first],
    'bad-signature',
    /^certificate 2 of the chain is not signed by certificate 3$/,
  );

  const topKeys = await generateCaKeys();
  const top = await caCertificate({
    commonName: 'Acme Attestation CA 1',
    publicKey: topKeys.publicKey,
    issuer: await renamed('Acme Other Root', rootKeys),
    signingKey: rootKeys.privateKey,
    pathLength: 0,
  });
  misnamed(top, root, 'intermediate 1 → root');
  refuses(
    verifier,
    [await factoryCertificate('SN-11', top, topKeys.privateKey), top],
    'unknown-root',
    /^the factory chain does not lead to a registered manufacturer root$/,
  );
});

test("a chain longer than a CA's pathLenConstraint allows is refused (RFC 5280 6.1.4), though every signature is sound", async () => {
  // Intermediate 2 has pathLenConstraint 0: a third CA below it breaks it, and so does a chain
  // below a root that allows one intermediate.
  const thirdKeys = await generateCaKeys();
  const third = await caCertificate({
    commonName: 'Acme Attestation CA 3',
    publicKey: thirdKeys.publicKey,
    issuer: second,
    signingKey: secondKeys.privateKey,
    pathLength: 0,
  });
  const tooDeep = await factoryCertificate('SN-40', third, thirdKeys.privateKey);
  refuses(
    verifierFor(root),
    [tooDeep, third, second, first],
    'path-too-long',
    /^certificate 3 of the chain allows 0 intermediate CA certificate\(s\) below it, and the chain has 1$/,
  );

  const narrowKeys = await generateCaKeys();
  const narrowRoot = await caCertificate({
    commonName: 'Acme Narrow Root CA',
    publicKey: narrowKeys.publicKey,
    issuer: 'self',
    signingKey: narrowKeys.privateKey,
    pathLength: 1,
  });
  const topKeys = await generateCaKeys();
  const top = await caCertificate({
    commonName: 'Acme Narrow CA 1',
    publicKey: topKeys.publicKey,
    issuer: narrowRoot,
    signingKey: narrowKeys.privateKey,
    pathLength: 1,
  });
  const belowKeys = await generateCaKeys();
  const below = await caCertificate({
    commonName: 'Acme Narrow CA 2',
    publicKey: belowKeys.publicKey,
    issuer: top,
    signingKey: topKeys.privateKey,
    pathLength: 0,
  });
  const leaf = await factoryCertificate('SN-41', below, belowKeys.privateKey);
  refuses(
    verifierFor(narrowRoot),
    [leaf, below, top],
    'path-too-long',
    /^the manufacturer root allows 1 intermediate CA certificate\(s\) below it, and the chain has 2$/,
  );
  // One intermediate under the same root is within its limit.
  const shallow = await factoryCertificate('SN-42', top, topKeys.privateKey);
  assert.equal(verifierFor(narrowRoot).verify([shallow, top].map(der), now).serial, 'SN-42');
});
