/**
 * The packed attestation codec and the factory-chain check, without a server: a round trip,
 * every structural refusal, and chains that are wrong in each of the ways a verifier must catch.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FACTORY_DEVICE_ID, factoryChain } from '../support/factory-chain.js';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { encode } from 'cbor2';
import {
  AttestationFormatError,
  clientDataHashFor,
  decodePackedAttestation,
  encodePackedAttestation,
  keyObjectSigner,
  rpIdHashFor,
  verifyPackedSignature,
} from '../../src/protocols/packed-attestation.js';
import { FactoryChainError, FactoryChainVerifier } from '../../src/provisioning/attestation/factory-chain.js';

const ID = FACTORY_DEVICE_ID;

test('an attestation round-trips, binds the key authorization and the identifier, and names the attested key', async () => {
  const h = await factoryChain();
  const credential = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const attObj = await encodePackedAttestation({
    signer: keyObjectSigner(h.factoryKey),
    chain: [h.leaf, h.intermediate],
    credentialKey: credential.publicKey,
    identifier: ID,
    keyAuthorization: 'tok.thumb',
  });
  const decoded = decodePackedAttestation(attObj);
  assert.deepEqual(decoded.x5c, [h.leaf, h.intermediate]);
  assert.equal(decoded.alg, -7);
  assert.deepEqual(decoded.rpIdHash, rpIdHashFor(ID));
  assert.ok(createPublicKey({ key: Buffer.from(decoded.credentialSpki), format: 'der', type: 'spki' }).equals(credential.publicKey));
  const factoryPublic = createPublicKey(h.factoryKey);
  assert.equal(verifyPackedSignature(decoded, factoryPublic, clientDataHashFor('tok.thumb')), true);
  assert.equal(verifyPackedSignature(decoded, factoryPublic, clientDataHashFor('tok.other')), false);
  assert.equal(verifyPackedSignature(decoded, credential.publicKey, clientDataHashFor('tok.thumb')), false);
  for (const curve of ['P-384', 'Ed25519'] as const) {
    const key = curve === 'Ed25519' ? generateKeyPairSync('ed25519').publicKey : generateKeyPairSync('ec', { namedCurve: curve }).publicKey;
    const other = decodePackedAttestation(
      await encodePackedAttestation({ signer: keyObjectSigner(h.factoryKey), chain: [h.leaf], credentialKey: key, identifier: ID, keyAuthorization: 'k' }),
    );
    assert.ok(createPublicKey({ key: Buffer.from(other.credentialSpki), format: 'der', type: 'spki' }).equals(key));
  }
});

test('malformed attestation objects are refused with the reason', () => {
  const authData = new Uint8Array(60);
  const cases: [unknown, RegExp][] = [
    [new Map([['fmt', 'none']]), /format "none" is not accepted/],
    [
      new Map<string, unknown>([
        ['fmt', 'packed'],
        [
          'attStmt',
          new Map<string, unknown>([
            ['alg', -7],
            ['sig', new Uint8Array(8)],
          ]),
        ],
        ['authData', authData],
      ]),
      /x5c must hold the factory certificate chain/,
    ],
    [
      new Map<string, unknown>([
        ['fmt', 'packed'],
        [
          'attStmt',
          new Map<string, unknown>([
            ['alg', -257],
            ['sig', new Uint8Array(8)],
            ['x5c', [new Uint8Array(4)]],
          ]),
        ],
        ['authData', authData],
      ]),
      /algorithm -257 is not supported/,
    ],
    [
      new Map<string, unknown>([
        ['fmt', 'packed'],
        [
          'attStmt',
          new Map<string, unknown>([
            ['alg', -7],
            ['sig', new Uint8Array(8)],
            ['x5c', [new Uint8Array(4)]],
          ]),
        ],
        ['authData', authData],
      ]),
      /no attested credential/,
    ],
    [
      new Map<string, unknown>([
        ['fmt', 'packed'],
        [
          'attStmt',
          new Map<string, unknown>([
            ['alg', -7],
            ['sig', new Uint8Array(8)],
            ['x5c', Array(5).fill(new Uint8Array(4))],
          ]),
        ],
        ['authData', authData],
      ]),
      /more than 4/,
    ],
  ];
  for (const [value, message] of cases)
    assert.throws(
      () => decodePackedAttestation(encode(value)),
      (e: unknown) => e instanceof AttestationFormatError && message.test(e.message),
    );
  assert.throws(() => decodePackedAttestation(new Uint8Array([0xff, 0x00])), /not CBOR/);
  assert.throws(() => decodePackedAttestation(new Uint8Array(17 * 1024)), /more than 16384/);
  // A credential key that is not on its curve.
  const offCurve = encode(
    new Map<number, unknown>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, new Uint8Array(32).fill(1)],
      [-3, new Uint8Array(32).fill(2)],
    ]),
  );
  const withKey = new Uint8Array(56 + offCurve.length);
  withKey[32] = 0x41; // UP | AT
  withKey[54] = 1; // one-byte credential id
  withKey.set(offCurve, 56);
  const attObj = encode(
    new Map<string, unknown>([
      ['fmt', 'packed'],
      [
        'attStmt',
        new Map<string, unknown>([
          ['alg', -7],
          ['sig', new Uint8Array(8)],
          ['x5c', [new Uint8Array(4)]],
        ]),
      ],
      ['authData', withKey],
    ]),
  );
  assert.throws(() => decodePackedAttestation(attObj), /not a point on its curve/);
});

test('the factory chain verifier finds the manufacturer and refuses unknown roots, broken links and bad dates', async () => {
  const h = await factoryChain();
  const verifier = new FactoryChainVerifier([{ manufacturer: 'Acme', der: h.root }]);
  const identity = verifier.verify([h.leaf, h.intermediate], new Date());
  assert.deepEqual([identity.manufacturer, identity.serial, identity.model], ['Acme', 'SN-1', 'thermo1']);
  assert.equal(verifier.verify([h.leaf, h.intermediate, h.root], new Date()).manufacturer, 'Acme', 'the root may end the chain');
  const refuses = (chain: Uint8Array[], failure: string, at = new Date(), v = verifier) =>
    assert.throws(
      () => v.verify(chain, at),
      (e: unknown) => e instanceof FactoryChainError && e.failure === failure,
    );
  const other = await factoryChain();
  refuses([other.leaf, other.intermediate], 'unknown-root');
  refuses([other.leaf, h.intermediate], 'bad-signature');
  refuses([h.leaf], 'unknown-root', new Date(), verifier);
  refuses([h.intermediate, h.root], 'leaf-is-ca');
  refuses([h.leaf, h.intermediate], 'expired', new Date(Date.now() + 21 * 365.25 * 86400_000));
  refuses([h.leaf, h.intermediate], 'not-yet-valid', new Date(Date.now() - 2 * 3600_000));
  refuses([new Uint8Array([0x30, 0x00])], 'malformed');
  // A cached intermediate is still checked for its dates on every use.
  refuses([h.leaf, h.intermediate], 'expired', new Date(Date.now() + 25 * 365.25 * 86400_000));
  refuses([h.leaf, h.leaf], 'not-a-ca');
});
