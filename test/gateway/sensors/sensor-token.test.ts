/** Sensor tokens: minting, the signing key on disk, and every way verification must refuse a token. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { ManualClock } from '../../../src/core/clock.js';
import { SensorStateFileError } from '../../../src/gateway/sensors/owner-only-file.js';
import { SensorTokenError, type SensorTokenRefusal } from '../../../src/gateway/sensors/sensor-token-error.js';
import { SENSOR_TOKEN_TYPE, SensorTokenIssuer, type SensorTokenAlgorithm } from '../../../src/gateway/sensors/sensor-token.js';

const work = mkdtempSync(join(tmpdir(), 'hearth-sensor-token-'));
after(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const freshPath = () => join(work, `case-${++counter}`, 'sensor-token-key.json');

const GATEWAY = 'gateway.home.arpa';
const start = new Date('2031-05-06T07:08:09.000Z');
const nowSeconds = Math.floor(start.getTime() / 1000);

async function setup(algorithm: SensorTokenAlgorithm = 'EdDSA') {
  const keyPath = freshPath();
  const clock = new ManualClock(start);
  const issuer = await SensorTokenIssuer.open(keyPath, { algorithm, clock, issuer: GATEWAY });
  return { keyPath, clock, issuer };
}

/** The issuer's own private key, read back from its file, to sign tokens the issuer would never mint. */
function signingKeyFrom(keyPath: string): KeyObject {
  const { alg: _alg, ...jwk } = JSON.parse(readFileSync(keyPath, 'utf8')) as Record<string, string>;
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

const goodClaims = (): JWTPayload => ({ iss: GATEWAY, aud: GATEWAY, sub: 'thermo-1', iat: nowSeconds, exp: nowSeconds + 600, jti: 'j1' });

function sign(key: KeyObject, alg: string, claims: JWTPayload, header: Record<string, unknown> = { typ: SENSOR_TOKEN_TYPE }): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ ...header, alg }).sign(key);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function assertRefused(issuer: SensorTokenIssuer, token: unknown, reason: SensorTokenRefusal): Promise<void> {
  await assert.rejects(
    issuer.verify(token),
    (error: unknown) => {
      assert.ok(error instanceof SensorTokenError, `expected a SensorTokenError, got ${String(error)}`);
      assert.equal(error.reason, reason, error.message);
      assert.equal(error.status, 401);
      return true;
    },
    `expected refusal "${reason}"`,
  );
}

for (const algorithm of ['EdDSA', 'ES256'] as const) {
  describe(`SensorTokenIssuer with ${algorithm}`, () => {
    test('mints a token that verifies, with the expected header and claims', async () => {
      const { issuer } = await setup(algorithm);
      const { token, expiresAt } = await issuer.mint('thermo-1');
      assert.equal(expiresAt.getTime(), (nowSeconds + 600) * 1000);
      assert.deepEqual(await issuer.verify(token), { sensorId: 'thermo-1', expiresAt });
      const header = decodeProtectedHeader(token);
      assert.deepEqual(header, { alg: algorithm, typ: SENSOR_TOKEN_TYPE, kid: issuer.keyId });
      const claims = decodeJwt(token);
      assert.equal(claims.iss, GATEWAY);
      assert.equal(claims.aud, GATEWAY);
      assert.equal(claims.sub, 'thermo-1');
      assert.equal(claims.iat, nowSeconds);
      assert.equal(claims.exp, nowSeconds + 600);
      assert.match(String(claims.jti), /^[A-Za-z0-9_-]{22}$/);
      assert.notEqual(decodeJwt((await issuer.mint('thermo-1')).token).jti, claims.jti);
    });

    test('a token signed by another key of the same algorithm fails on the signature', async () => {
      const { issuer } = await setup(algorithm);
      const stranger = algorithm === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : generateKeyPairSync('ed25519').privateKey;
      await assertRefused(issuer, await sign(stranger, algorithm, goodClaims()), 'signature');
    });

    test('a tampered payload fails on the signature', async () => {
      const { issuer } = await setup(algorithm);
      const [header, , signature] = (await issuer.mint('thermo-1')).token.split('.');
      await assertRefused(issuer, `${header}.${b64({ ...goodClaims(), sub: 'thermo-2' })}.${signature}`, 'signature');
    });

    test('the key is created owner-only once and reloaded after', async () => {
      const { keyPath, clock, issuer } = await setup(algorithm);
      assert.equal(statSync(keyPath).mode & 0o777, 0o600);
      const reopened = await SensorTokenIssuer.open(keyPath, { algorithm, clock, issuer: GATEWAY });
      assert.equal(reopened.keyId, issuer.keyId);
      const { token } = await issuer.mint('thermo-1');
      assert.equal((await reopened.verify(token)).sensorId, 'thermo-1');
    });
  });
}

describe('SensorTokenIssuer verification refuses', () => {
  test('alg "none", with or without a signature', async () => {
    const { issuer } = await setup();
    const unsigned = `${b64({ alg: 'none', typ: SENSOR_TOKEN_TYPE })}.${b64(goodClaims())}`;
    await assertRefused(issuer, `${unsigned}.`, 'algorithm');
    await assertRefused(issuer, `${unsigned}.${Buffer.from('sig').toString('base64url')}`, 'algorithm');
    await assertRefused(issuer, `${b64({ typ: SENSOR_TOKEN_TYPE })}.${b64(goodClaims())}.`, 'algorithm');
  });

  test('HS256 keyed with the public key, or with any secret', async () => {
    const { keyPath, issuer } = await setup();
    const publicKey = createPublicKey(signingKeyFrom(keyPath));
    for (const secret of [
      publicKey.export({ format: 'der', type: 'spki' }),
      Buffer.from(publicKey.export({ format: 'pem', type: 'spki' })),
      Buffer.from('secret'),
    ]) {
      await assertRefused(issuer, await sign(createSecretKey(secret), 'HS256', goodClaims()), 'algorithm');
    }
  });

  test('a token of the other asymmetric algorithm', async () => {
    const { issuer } = await setup('EdDSA');
    await assertRefused(issuer, await sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'ES256', goodClaims()), 'algorithm');
  });

  test('a token for another audience or from another issuer, even when correctly signed', async () => {
    const { keyPath, issuer } = await setup();
    const key = signingKeyFrom(keyPath);
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), aud: 'other.home.arpa' }), 'audience');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), aud: undefined }), 'audience');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), iss: 'other.home.arpa' }), 'issuer');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), iss: undefined }), 'issuer');
    const elsewhere = await SensorTokenIssuer.open(freshPath(), { clock: new ManualClock(start), issuer: 'other.home.arpa' });
    await assertRefused(issuer, (await elsewhere.mint('thermo-1')).token, 'signature');
  });

  test('an expired token, allowing five seconds of clock skew', async () => {
    const { clock, issuer } = await setup();
    const { token } = await issuer.mint('thermo-1', { lifetimeSeconds: 60 });
    clock.advance(64_000);
    assert.equal((await issuer.verify(token)).sensorId, 'thermo-1');
    clock.advance(1_000);
    await assertRefused(issuer, token, 'expired');
  });

  test('a token issued in the future beyond the skew', async () => {
    const { keyPath, issuer } = await setup();
    const key = signingKeyFrom(keyPath);
    assert.ok(await issuer.verify(await sign(key, 'EdDSA', { ...goodClaims(), iat: nowSeconds + 5, exp: nowSeconds + 65 })));
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), iat: nowSeconds + 60, exp: nowSeconds + 120 }), 'expired');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), nbf: nowSeconds + 60 }), 'expired');
  });

  test('a correctly signed token valid for more than 15 minutes, or without a bounded lifetime', async () => {
    const { keyPath, issuer } = await setup();
    const key = signingKeyFrom(keyPath);
    assert.ok(await issuer.verify(await sign(key, 'EdDSA', { ...goodClaims(), exp: nowSeconds + 900 })));
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), exp: nowSeconds + 901 }), 'lifetime');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), exp: nowSeconds + 86_400 * 365 }), 'lifetime');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), exp: undefined }), 'lifetime');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), iat: undefined }), 'lifetime');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), exp: nowSeconds }), 'lifetime');
  });

  test('a subject that is missing or not a sensor id', async () => {
    const { keyPath, issuer } = await setup();
    const key = signingKeyFrom(keyPath);
    for (const sub of ['Thermo', 'a/b', '#', 'x'.repeat(65), '']) {
      await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), sub }), 'subject');
    }
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), sub: undefined }), 'subject');
  });

  test('a correctly signed JWT that is not typed as a sensor token, or lacks a jti', async () => {
    const { keyPath, issuer } = await setup();
    const key = signingKeyFrom(keyPath);
    await assertRefused(issuer, await sign(key, 'EdDSA', goodClaims(), {}), 'malformed');
    await assertRefused(issuer, await sign(key, 'EdDSA', goodClaims(), { typ: 'JWT' }), 'malformed');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), jti: undefined }), 'malformed');
    await assertRefused(issuer, await sign(key, 'EdDSA', { ...goodClaims(), exp: 'soon' as unknown as number }), 'malformed');
  });

  test('garbage', async () => {
    const { issuer } = await setup();
    const valid = (await issuer.mint('thermo-1')).token;
    for (const garbage of [
      undefined,
      null,
      42,
      {},
      '',
      'x',
      'a.b',
      'a.b.c.d',
      '...',
      'a b.c.d',
      `${valid}.`,
      `x${valid}`,
      'x'.repeat(5000),
      `${b64([1])}.${b64({})}.`,
      `${Buffer.from('{not json').toString('base64url')}.e30.`,
    ]) {
      await assertRefused(issuer, garbage, 'malformed');
    }
    await assertRefused(issuer, `${valid.split('.')[0]}.${Buffer.from('not json').toString('base64url')}.${valid.split('.')[2]}`, 'signature');
  });
});

describe('SensorTokenIssuer minting and key file', () => {
  test('refuses lifetimes above 15 minutes and malformed sensor ids', async () => {
    const { issuer } = await setup();
    await issuer.mint('thermo-1', { lifetimeSeconds: 900 });
    for (const lifetimeSeconds of [901, 0, -1, 1.5, Number.NaN])
      await assert.rejects(issuer.mint('thermo-1', { lifetimeSeconds }), RangeError, String(lifetimeSeconds));
    await assert.rejects(issuer.mint('Thermo/1'), /sensor id must match/);
  });

  test('refuses a key file of another algorithm, one readable by others, and a corrupt one, never quoting the key', async () => {
    const { keyPath, clock } = await setup('EdDSA');
    const privateD = (JSON.parse(readFileSync(keyPath, 'utf8')) as { d: string }).d;
    await assert.rejects(
      SensorTokenIssuer.open(keyPath, { algorithm: 'ES256', clock, issuer: GATEWAY }),
      (error: unknown) => error instanceof SensorStateFileError && error.message.includes(keyPath) && /EdDSA key but ES256/.test(error.message),
    );
    chmodSync(keyPath, 0o640);
    await assert.rejects(SensorTokenIssuer.open(keyPath, { clock, issuer: GATEWAY }), /accessible by group\/other/);

    const corrupt: Array<[string, RegExp]> = [
      [`{"kty":"OKP","d":"${privateD}"`, /not JSON/],
      [JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'AA', d: privateD }), /alg/],
      [JSON.stringify({ alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519', x: 'AA', d: 'AA' }), /not hold a valid EdDSA private key/],
      [JSON.stringify({ alg: 'EdDSA', kty: 'OKP', crv: 'X25519', x: 'AA', d: privateD }), /crv/],
    ];
    for (const [contents, expected] of corrupt) {
      const path = freshPath();
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, contents, { mode: 0o600 });
      await assert.rejects(
        SensorTokenIssuer.open(path, { clock, issuer: GATEWAY }),
        (error: unknown) =>
          error instanceof SensorStateFileError && error.message.startsWith(path) && expected.test(error.message) && !error.message.includes(privateD),
        contents,
      );
    }
  });

  test('two issuers opening a new key file at once end up with the same key', async () => {
    const keyPath = freshPath();
    const clock = new ManualClock(start);
    const [first, second] = await Promise.all([
      SensorTokenIssuer.open(keyPath, { clock, issuer: GATEWAY }),
      SensorTokenIssuer.open(keyPath, { clock, issuer: GATEWAY }),
    ]);
    assert.equal(first.keyId, second.keyId);
    assert.equal((await second.verify((await first.mint('thermo-1')).token)).sensorId, 'thermo-1');
  });

  test('refuses an empty issuer name', async () => {
    await assert.rejects(SensorTokenIssuer.open(freshPath(), { clock: new ManualClock(start), issuer: '' }), TypeError);
  });
});
