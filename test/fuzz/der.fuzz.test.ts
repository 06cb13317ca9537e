/**
 * The DER entry points under random and mutated input: the strict walker, the CSR check (both
 * the full parse and the names-only read ACME finalize uses), OCSP requests and factory chains.
 * Each either accepts or refuses with its documented error; nothing else escapes, and every case
 * returns within its budget.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { factoryChain } from '../support/factory-chain.js';
import fc from 'fast-check';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import { CertID, OCSPRequest, Request, TBSRequest, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { BadCsrError } from '../../src/core/errors.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { pemDecode, pemEncode } from '../../src/pki/certificate-assembly.js';
import { parseCsr, readCsrNames } from '../../src/pki/csr.js';
import { OcspMalformedError, parseOcspRequest } from '../../src/pki/ocsp.js';
import { DerStrictnessError, assertStrictDer } from '../../src/pki/strict-der.js';
import { FactoryChainError, FactoryChainVerifier } from '../../src/provisioning/attestation/factory-chain.js';
import { fuzzRuns, mutate, mutations, outcomeOf, refusedCleanly } from './fuzz-budget.js';

const { csrPem } = await createKeyAndRequest({ commonName: 'urn:dev:ops:acme-thermo-0001', uris: ['urn:dev:ops:acme-thermo-0001'] });
const csr = pemDecode(csrPem, 'CERTIFICATE REQUEST');

/** An RFC 5019 request for one certificate with an RFC 8954 nonce. */
const ocspRequest = new Uint8Array(
  AsnConvert.serialize(
    new OCSPRequest({
      tbsRequest: new TBSRequest({
        requestList: [
          new Request({
            reqCert: new CertID({
              hashAlgorithm: new AlgorithmIdentifier({ algorithm: '1.3.14.3.2.26', parameters: new Uint8Array([5, 0]).buffer }),
              issuerNameHash: new OctetString(new Uint8Array(20).fill(1)),
              issuerKeyHash: new OctetString(new Uint8Array(20).fill(2)),
              serialNumber: new Uint8Array([0x10, 0x01]).buffer,
            }),
          }),
        ],
        requestExtensions: [
          new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: new OctetString(AsnConvert.serialize(new OctetString(new Uint8Array(16).fill(7)))) }),
        ],
      }),
    }),
  ),
);

const randomBytes = fc.uint8Array({ maxLength: 512 });
/** Random bytes that start like DER, so the walk gets past the first element more often. */
const derLike = fc
  .tuple(fc.constantFrom(0x30, 0x31, 0xa0, 0x04, 0x03, 0x02, 0x01, 0x06), fc.uint8Array({ maxLength: 300 }))
  .map(([tag, rest]) => new Uint8Array([tag, ...rest]));

test('the valid inputs the mutations start from are accepted', () => {
  assertStrictDer(csr);
  assert.equal(parseCsr(csr).commonName, 'urn:dev:ops:acme-thermo-0001');
  assertStrictDer(ocspRequest);
  assert.equal(parseOcspRequest(ocspRequest).requests[0]?.serial, '1001');
});

test('fuzz: the strict DER walker refuses with DerStrictnessError or accepts, on random and mutated input', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        randomBytes,
        derLike,
        mutations.map((m) => mutate(csr, m)),
        mutations.map((m) => mutate(ocspRequest, m)),
      ),
      (bytes) => {
        refusedCleanly(
          outcomeOf(() => assertStrictDer(bytes)),
          DerStrictnessError,
        );
      },
    ),
    fuzzRuns(1500),
  );
});

test('fuzz: a mutated or random CSR is refused with BadCsrError, through parseCsr and readCsrNames, from DER and PEM', () => {
  const input = fc.oneof(
    { weight: 4, arbitrary: mutations.map((m) => mutate(csr, m)) },
    { weight: 1, arbitrary: randomBytes },
    { weight: 1, arbitrary: derLike },
  );
  fc.assert(
    fc.property(input, fc.boolean(), (bytes, asPem) => {
      const given = asPem ? pemEncode('CERTIFICATE REQUEST', bytes) : bytes;
      refusedCleanly(
        outcomeOf(() => parseCsr(given)),
        BadCsrError,
      );
      refusedCleanly(
        outcomeOf(() => readCsrNames(given)),
        BadCsrError,
      );
    }),
    fuzzRuns(800),
  );
});

test('fuzz: PEM text around a valid CSR is refused with BadCsrError', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 }), (before, after) => {
      const thrown = outcomeOf(() => parseCsr(`${before}${csrPem}${after}`));
      refusedCleanly(thrown, BadCsrError);
      if (before.trim() !== '' || after.trim() !== '')
        assert.ok(thrown instanceof BadCsrError, `accepted text around the block: ${JSON.stringify([before, after])}`);
    }),
    fuzzRuns(500),
  );
});

test('fuzz: a mutated or random OCSP request is refused with OcspMalformedError', () => {
  const input = fc.oneof(
    { weight: 4, arbitrary: mutations.map((m) => mutate(ocspRequest, m)) },
    { weight: 1, arbitrary: randomBytes },
    { weight: 1, arbitrary: derLike },
  );
  fc.assert(
    fc.property(input, (bytes) => {
      refusedCleanly(
        outcomeOf(() => parseOcspRequest(bytes)),
        OcspMalformedError,
      );
    }),
    fuzzRuns(1500),
  );
});

test('fuzz: a mutated factory certificate is refused with FactoryChainError, and the verifier still verifies the real chain', async () => {
  const now = new Date();
  const { root, intermediate, leaf } = await factoryChain(now);
  const verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: root }]);
  fc.assert(
    fc.property(mutations, fc.boolean(), (edits, mutateIntermediate) => {
      const chain = mutateIntermediate ? [leaf, mutate(intermediate, edits)] : [mutate(leaf, edits), intermediate];
      refusedCleanly(
        outcomeOf(() => verifier.verify(chain, now)),
        FactoryChainError,
      );
    }),
    fuzzRuns(300),
  );
  // No refused chain was remembered as verified, or spoiled what was.
  assert.equal(verifier.verify([leaf, intermediate], now).serial, 'SN-1');
});
