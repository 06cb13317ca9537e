/**
 * Factory chains are DER: OpenSSL reads a certificate whose outer length is re-encoded, or that
 * is followed by junk, as the same certificate, but its SHA-256 (what manifests, pins and factory
 * revocations name) is another. Such a re-encoding of a known factory certificate would dodge a
 * revocation by fingerprint, so the verifier refuses it as malformed.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { factoryChain } from '../support/factory-chain.js';
import { X509Certificate } from 'node:crypto';
import { FactoryChainError, FactoryChainVerifier } from '../../src/provisioning/attestation/factory-chain.js';

/** The same certificate with its outer length written with a redundant leading zero octet. */
function reencodedOuterLength(cert: Uint8Array): Uint8Array {
  const octets = cert[1]! & 0x7f;
  assert.ok(cert[1]! & 0x80 && octets < 4);
  return new Uint8Array([cert[0]!, 0x80 | (octets + 1), 0x00, ...cert.subarray(2)]);
}

/** The same certificate in BER's indefinite-length form. */
function indefinite(cert: Uint8Array): Uint8Array {
  const octets = cert[1]! & 0x7f;
  return new Uint8Array([cert[0]!, 0x80, ...cert.subarray(2 + octets), 0x00, 0x00]);
}

test('a factory chain whose certificates are not DER is refused as malformed, though OpenSSL reads them', async () => {
  const now = new Date();
  const chain = await factoryChain(now);
  const { leaf } = chain;
  const root = chain.root;
  const intermediate = chain.intermediate;
  const verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: root }]);
  assert.equal(verifier.verify([leaf, intermediate], now).serial, 'SN-1');

  const variants: Array<[string, Uint8Array, RegExp]> = [
    ['a non-minimal outer length', reencodedOuterLength(leaf), /non-minimal length at offset 0/],
    ['an indefinite length', indefinite(leaf), /indefinite length at offset 0/],
    ['a trailing octet', new Uint8Array([...leaf, 0x00]), /1 octets follow the outer element/],
  ];
  for (const [what, variant, message] of variants) {
    // The premise: OpenSSL takes the variant for the very same certificate.
    assert.equal(new X509Certificate(variant).fingerprint256, new X509Certificate(leaf).fingerprint256, what);
    assert.throws(
      () => verifier.verify([variant, intermediate], now),
      (error: unknown) => {
        assert.ok(error instanceof FactoryChainError, `${what}: ${String(error)}`);
        assert.equal(error.failure, 'malformed', what);
        assert.match(error.message, /^the factory certificate is not DER: /, what);
        assert.match(error.message, message, what);
        return true;
      },
    );
    assert.throws(
      () => verifier.verify([leaf, reencodedOuterLength(intermediate)], now),
      (error: unknown) => error instanceof FactoryChainError && error.failure === 'malformed' && /certificate 2 of the chain is not DER/.test(error.message),
    );
  }
  assert.throws(
    () => new FactoryChainVerifier([{ manufacturer: 'Acme', der: new Uint8Array([...root, 0x00]) }]),
    (error: unknown) => error instanceof FactoryChainError && error.failure === 'malformed',
  );
});
