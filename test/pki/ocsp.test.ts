import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { AsnConvert, AsnProp, AsnPropTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, CRLReason, Extension } from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  TBSRequest,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import {
  OcspContentError,
  OcspMalformedError,
  assembleOcspResponse,
  buildOcspResponseData,
  certIdMatchesIssuer,
  decodeOcspGetPath,
  ocspErrorResponse,
  parseOcspRequest,
  type CertIdInfo,
  type OcspErrorStatus,
  type OcspResponseContents,
} from '../../src/pki/ocsp.js';
import { signatureAlgorithmFor } from '../../src/pki/signature-algorithm.js';
import { needsOpenssl } from '../support/environment.js';
import { createOpensslCa, type OpensslCa } from '../support/openssl-ca.js';

const skip = await needsOpenssl();
const ca: OpensslCa | undefined = skip ? undefined : createOpensslCa(['1001', '1002', '1003']);
after(() => ca?.cleanup());

const minute = 60_000;

function requireCa(): OpensslCa {
  if (!ca) throw new Error('openssl CA missing');
  return ca;
}

/** Writes an OCSP request made by openssl for leaf `index` and returns its DER. */
function opensslRequest(name: string, index: number, options: string[] = []): Uint8Array {
  const c = requireCa();
  const made = c.openssl(['ocsp', ...options, '-issuer', c.ca.certPath, '-cert', c.leaves[index]?.certPath ?? '', '-reqout', `${name}.der`]);
  assert.equal(made.status, 0, made.output);
  return new Uint8Array(readFileSync(c.path(`${name}.der`)));
}

function responderKeyHash(): Uint8Array {
  return createHash('sha1').update(requireCa().responder.facts.publicKeyBits).digest();
}

function signedResponse(name: string, contents: OcspResponseContents, certs = [requireCa().responder.der]): Uint8Array {
  const c = requireCa();
  const data = buildOcspResponseData(contents);
  const der = assembleOcspResponse(data, 'ECDSA-P256', sign('sha256', data, { key: c.responder.key, dsaEncoding: 'der' }), certs);
  writeFileSync(c.path(`${name}.der`), der);
  return der;
}

function caIssuer() {
  const c = requireCa();
  return { nameDer: c.ca.facts.subjectNameDer, publicKeyBits: c.ca.facts.publicKeyBits };
}

/** Signature and nonce as openssl checks them against the original request. */
function verifyAgainstRequest(request: string, response: string) {
  return requireCa().openssl(['ocsp', '-reqin', `${request}.der`, '-respin', `${response}.der`, '-CAfile', 'ca.pem']);
}

/** The status openssl reads for a leaf (its own -cert request would carry a fresh nonce, hence -no_nonce). */
function statusOf(response: string, leafIndex: number, digest: string[] = []) {
  const c = requireCa();
  return c.openssl([
    'ocsp',
    '-respin',
    `${response}.der`,
    '-CAfile',
    'ca.pem',
    '-issuer',
    'ca.pem',
    ...digest,
    '-cert',
    c.leaves[leafIndex]?.certPath ?? '',
    '-no_nonce',
  ]);
}

test('parses openssl requests with and without nonce, SHA-1 and SHA-256 CertIDs', { skip }, () => {
  const c = requireCa();
  const withNonce = parseOcspRequest(opensslRequest('req-nonce', 0));
  assert.equal(withNonce.requests.length, 1);
  const [sha1Id] = withNonce.requests;
  assert.ok(sha1Id);
  assert.equal(sha1Id.hashAlgorithm, 'sha1');
  assert.equal(sha1Id.serial, '1001');
  assert.equal(sha1Id.issuerNameHash.length, 20);
  assert.ok(withNonce.nonce);
  // openssl's nonce: an OCTET STRING of 16 random octets inside extnValue.
  assert.equal(withNonce.nonce.length, 18);
  assert.deepEqual([...withNonce.nonce.subarray(0, 2)], [0x04, 0x10]);
  assert.ok(certIdMatchesIssuer(sha1Id, caIssuer()));

  const noNonce = parseOcspRequest(opensslRequest('req-no-nonce', 1, ['-no_nonce']));
  assert.equal(noNonce.nonce, undefined);
  assert.equal(noNonce.requests[0]?.serial, '1002');

  const sha256 = parseOcspRequest(opensslRequest('req-sha256', 1, ['-sha256']));
  const [sha256Id] = sha256.requests;
  assert.ok(sha256Id);
  assert.equal(sha256Id.hashAlgorithm, 'sha256');
  assert.equal(sha256Id.issuerKeyHash.length, 32);
  assert.ok(certIdMatchesIssuer(sha256Id, caIssuer()));

  const responder = { nameDer: c.responder.facts.subjectNameDer, publicKeyBits: c.responder.facts.publicKeyBits };
  assert.equal(certIdMatchesIssuer(sha1Id, responder), false);
  assert.equal(certIdMatchesIssuer(sha256Id, { ...caIssuer(), publicKeyBits: responder.publicKeyBits }), false);
  assert.equal(certIdMatchesIssuer(sha1Id, { ...caIssuer(), nameDer: responder.nameDer }), false);
});

test('openssl accepts good, revoked and unknown responses from the delegated responder', { skip }, () => {
  const now = new Date();
  const next = new Date(now.getTime() + 60 * minute);
  const cases = [
    { leaf: 0, status: { kind: 'good' } as const, expect: /leaf1\.pem: good/ },
    {
      leaf: 1,
      status: { kind: 'revoked', revokedAt: new Date(now.getTime() - minute), reason: 1 } as const,
      expect: /leaf2\.pem: revoked[\s\S]*Reason: keyCompromise/,
    },
    { leaf: 2, status: { kind: 'unknown' } as const, expect: /leaf3\.pem: unknown/ },
  ];
  for (const { leaf, status, expect } of cases) {
    const name = `status-${leaf}`;
    const { requests, nonce } = parseOcspRequest(opensslRequest(`req-${name}`, leaf));
    const [certId] = requests;
    assert.ok(certId && nonce);
    signedResponse(`resp-${name}`, {
      responderKeyHash: responderKeyHash(),
      producedAt: now,
      responses: [{ certId, status, thisUpdate: now, nextUpdate: next }],
      nonce,
    });
    const verified = verifyAgainstRequest(`req-${name}`, `resp-${name}`);
    assert.equal(verified.status, 0, verified.output);
    assert.match(verified.output, /Response verify OK/);
    assert.doesNotMatch(verified.output, /WARNING|error/i);

    const read = statusOf(`resp-${name}`, leaf);
    assert.match(read.output, expect);
    assert.match(read.output, /Response verify OK/);
  }
});

test('a revocation without a reason, and a SHA-256 CertID, verify too', { skip }, () => {
  const now = new Date();
  const { requests } = parseOcspRequest(opensslRequest('req-sha256-revoked', 1, ['-sha256', '-no_nonce']));
  const [certId] = requests;
  assert.ok(certId);
  signedResponse('resp-sha256-revoked', {
    responderKeyHash: responderKeyHash(),
    producedAt: now,
    responses: [{ certId, status: { kind: 'revoked', revokedAt: now }, thisUpdate: now }],
  });
  const read = statusOf('resp-sha256-revoked', 1, ['-sha256']);
  assert.match(read.output, /leaf2\.pem: revoked/);
  assert.doesNotMatch(read.output, /Reason:/);
  assert.match(read.output, /Response verify OK/);
});

test('the response echoes the CertID byte for byte', { skip }, () => {
  const requestDer = opensslRequest('req-echo', 0, ['-no_nonce']);
  const [certId] = parseOcspRequest(requestDer).requests;
  assert.ok(certId);
  assert.ok(Buffer.from(requestDer).includes(Buffer.from(certId.der)), 'CertID DER is taken from the request');
  const now = new Date();
  const response = signedResponse('resp-echo', {
    responderKeyHash: responderKeyHash(),
    producedAt: now,
    responses: [{ certId, status: { kind: 'good' }, thisUpdate: now }],
  });
  const bytes = AsnConvert.parse(response, OCSPResponse).responseBytes?.response.buffer;
  assert.ok(bytes);
  const basic = AsnConvert.parse(bytes, BasicOCSPResponse);
  const echoed = basic.tbsResponseData.responses[0]?.certID;
  assert.ok(echoed);
  assert.deepEqual(new Uint8Array(AsnConvert.serialize(echoed)), certId.der);
  assert.equal(basic.certs?.length, 1);
});

test('openssl notices a missing nonce, a missing responder certificate and a bad signature', { skip }, () => {
  const now = new Date();
  const { requests } = parseOcspRequest(opensslRequest('req-negative', 0));
  const [certId] = requests;
  assert.ok(certId);
  const contents = {
    responderKeyHash: responderKeyHash(),
    producedAt: now,
    responses: [{ certId, status: { kind: 'good' } as const, thisUpdate: now }],
  };

  signedResponse('resp-no-nonce', contents);
  assert.match(verifyAgainstRequest('req-negative', 'resp-no-nonce').output, /WARNING: no nonce in response/);

  signedResponse('resp-other-nonce', { ...contents, nonce: new Uint8Array([0x04, 0x02, 0xab, 0xcd]) });
  assert.match(verifyAgainstRequest('req-negative', 'resp-other-nonce').output, /Nonce Verify error/);

  signedResponse('resp-no-cert', contents, []);
  assert.match(statusOf('resp-no-cert', 0).output, /Response Verify Failure/);

  const c = requireCa();
  const data = buildOcspResponseData(contents);
  const forged = assembleOcspResponse(data, 'ECDSA-P256', sign('sha256', data, { key: c.ca.key, dsaEncoding: 'der' }), [c.responder.der]);
  writeFileSync(c.path('resp-forged.der'), forged);
  assert.match(statusOf('resp-forged', 0).output, /Response Verify Failure/);
});

test('garbage requests throw OcspMalformedError', { skip }, () => {
  const valid = opensslRequest('req-garbage', 0);
  const sha1 = '1.3.14.3.2.26';
  const certId = (algorithm: string) =>
    new CertID({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm }),
      issuerNameHash: new OctetString(new Uint8Array(20)),
      issuerKeyHash: new OctetString(new Uint8Array(20)),
      serialNumber: new Uint8Array([1]).buffer,
    });
  const request = (tbs: Partial<TBSRequest>) => new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest: new TBSRequest(tbs) })));
  const withNonce = (octets: number) =>
    request({
      requestList: [new Request({ reqCert: certId(sha1) })],
      requestExtensions: [
        new Extension({
          extnID: id_pkix_ocsp_nonce,
          extnValue: new OctetString(AsnConvert.serialize(new OctetString(new Uint8Array(octets)))),
        }),
      ],
    });

  const garbage: [string, Uint8Array][] = [
    ['empty', new Uint8Array()],
    ['random', new Uint8Array(randomBytes(64))],
    ['empty sequence', new Uint8Array([0x30, 0x00])],
    ['truncated', valid.subarray(0, valid.length - 5)],
    ['a certificate', requireCa().ca.der],
    ['no certificates asked for', request({ requestList: [] })],
    ['MD5 CertID', request({ requestList: [new Request({ reqCert: certId('1.2.840.113549.2.5') })] })],
    ['129-octet nonce', withNonce(129)],
  ];
  for (const [name, der] of garbage) {
    assert.throws(() => parseOcspRequest(der), OcspMalformedError, name);
  }
  assert.equal(parseOcspRequest(withNonce(128)).nonce?.length, 131);
});

test('decodeOcspGetPath tolerates the encodings clients produce', () => {
  const der = new Uint8Array([0x30, 0x3e, 0xfb, 0xff, 0xbf, 0x10]);
  const base64 = Buffer.from(der).toString('base64');
  assert.match(base64, /[+/]/);
  for (const segment of [
    base64,
    encodeURIComponent(base64),
    encodeURIComponent(base64).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    base64.replace(/\+/g, '%2B').replace(/\//g, '%2f'),
    Buffer.from(der).toString('base64url'),
  ]) {
    assert.deepEqual(decodeOcspGetPath(segment), der, segment);
  }
  for (const bad of ['', '%E0%A4%A', 'not base64!', 'AAAA===', '%00']) {
    assert.equal(decodeOcspGetPath(bad), undefined, bad);
  }
});

test('a GET-encoded openssl request decodes to the same request', { skip }, () => {
  const der = opensslRequest('req-get', 1);
  const segment = encodeURIComponent(Buffer.from(der).toString('base64'));
  assert.deepEqual(decodeOcspGetPath(segment), der);
  assert.equal(parseOcspRequest(decodeOcspGetPath(segment) ?? new Uint8Array()).requests[0]?.serial, '1002');
});

test('error responses are bare statuses that openssl decodes', { skip }, () => {
  const c = requireCa();
  const expected: Record<OcspErrorStatus, number> = { malformedRequest: 1, internalError: 2, tryLater: 3, unauthorized: 6 };
  for (const [status, code] of Object.entries(expected)) {
    const der = ocspErrorResponse(status as OcspErrorStatus);
    assert.deepEqual([...der], [0x30, 0x03, 0x0a, 0x01, code]);
    writeFileSync(c.path(`err-${status}.der`), der);
    const text = c.openssl(['ocsp', '-respin', `err-${status}.der`, '-resp_text']).output;
    assert.match(text, new RegExp(`Responder Error: ${status} \\(${code}\\)`, 'i'));
  }
});

test('inconsistent response contents throw OcspContentError', () => {
  const certId: CertIdInfo = {
    hashAlgorithm: 'sha1',
    issuerNameHash: new Uint8Array(20),
    issuerKeyHash: new Uint8Array(20),
    serial: '01',
    der: new Uint8Array(
      AsnConvert.serialize(
        new CertID({
          hashAlgorithm: new AlgorithmIdentifier({ algorithm: '1.3.14.3.2.26' }),
          issuerNameHash: new OctetString(new Uint8Array(20)),
          issuerKeyHash: new OctetString(new Uint8Array(20)),
          serialNumber: new Uint8Array([1]).buffer,
        }),
      ),
    ),
  };
  const now = new Date('2030-01-01T00:00:00Z');
  const base: OcspResponseContents = {
    responderKeyHash: new Uint8Array(20),
    producedAt: now,
    responses: [{ certId, status: { kind: 'good' }, thisUpdate: now }],
  };
  const one = (patch: object) => ({ ...base, responses: [{ ...base.responses[0], ...patch }] }) as OcspResponseContents;
  const cases: [string, OcspResponseContents, RegExp][] = [
    ['short key hash', { ...base, responderKeyHash: new Uint8Array(32) }, /20-octet SHA-1/],
    ['no responses', { ...base, responses: [] }, /at least one/],
    ['nextUpdate before thisUpdate', one({ nextUpdate: new Date(now.getTime() - 1000) }), /nextUpdate must be after/],
    ['reason 7', one({ status: { kind: 'revoked', revokedAt: now, reason: 7 } }), /CRLReason/],
    ['bad CertID', one({ certId: { ...certId, der: new Uint8Array([1, 2]) } }), /not a DER-encoded CertID/],
    ['invalid date', { ...base, producedAt: new Date(Number.NaN) }, /producedAt is not a valid date/],
  ];
  for (const [name, contents, message] of cases) {
    assert.throws(
      () => buildOcspResponseData(contents),
      (e: unknown) => {
        assert.ok(e instanceof OcspContentError, name);
        assert.match(e.message, message, name);
        return true;
      },
    );
  }
  const data = buildOcspResponseData(base);
  assert.throws(() => assembleOcspResponse(new Uint8Array([0x30, 0x00]), 'ECDSA-P256', new Uint8Array(8), []), OcspContentError);
  assert.throws(() => assembleOcspResponse(data, 'ECDSA-P256', new Uint8Array(8), [new Uint8Array([0x30, 0x00])]), OcspContentError);
  assert.throws(() => assembleOcspResponse(data, 'ECDSA-P256', new Uint8Array(), []), OcspContentError);
});

// The asn1-schema encodings the direct DER code replaced, kept as the reference it must match.

const ref = (value: unknown) => new Uint8Array(AsnConvert.serialize(value));
const wholeSecond = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000);

function referenceResponseData(contents: OcspResponseContents): Uint8Array {
  return ref(
    new ResponseData({
      responderID: new ResponderID({ byKey: new KeyHash(contents.responderKeyHash) }),
      producedAt: wholeSecond(contents.producedAt),
      responses: contents.responses.map(
        (r) =>
          new SingleResponse({
            certID: AsnConvert.parse(r.certId.der, CertID),
            certStatus:
              r.status.kind === 'good'
                ? new CertStatus({ good: null })
                : r.status.kind === 'unknown'
                  ? new CertStatus({ unknown: null })
                  : new CertStatus({
                      revoked: new RevokedInfo({
                        revocationTime: wholeSecond(r.status.revokedAt),
                        revocationReason: r.status.reason === undefined ? undefined : new CRLReason(r.status.reason),
                      }),
                    }),
            thisUpdate: wholeSecond(r.thisUpdate),
            nextUpdate: r.nextUpdate && wholeSecond(r.nextUpdate),
          }),
      ),
      responseExtensions: contents.nonce
        ? [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(contents.nonce) })]
        : undefined,
    }),
  );
}

class ReferenceBasicOcspResponse {
  @AsnProp({ type: AsnPropTypes.Any })
  tbsResponseData: ArrayBuffer = new ArrayBuffer(0);

  @AsnProp({ type: AlgorithmIdentifier })
  signatureAlgorithm: AlgorithmIdentifier = new AlgorithmIdentifier();

  @AsnProp({ type: AsnPropTypes.BitString })
  signature: ArrayBuffer = new ArrayBuffer(0);

  @AsnProp({ type: AsnPropTypes.Any, context: 0, repeated: 'sequence', optional: true })
  certs?: ArrayBuffer[];
}

function referenceAssembly(data: Uint8Array, algorithm: 'ECDSA-P256' | 'ECDSA-P384' | 'Ed25519', signature: Uint8Array, certs: Uint8Array[]): Uint8Array {
  const basic = new ReferenceBasicOcspResponse();
  basic.tbsResponseData = data.slice().buffer;
  basic.signatureAlgorithm = signatureAlgorithmFor(algorithm);
  basic.signature = signature.slice().buffer;
  basic.certs = certs.length > 0 ? certs.map((c) => c.slice().buffer) : undefined;
  return ref(
    new OCSPResponse({
      responseStatus: OCSPResponseStatus.successful,
      responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(ref(basic)) }),
    }),
  );
}

const HASHES = {
  sha1: ['1.3.14.3.2.26', 20],
  sha256: ['2.16.840.1.101.3.4.2.1', 32],
  sha384: ['2.16.840.1.101.3.4.2.2', 48],
  sha512: ['2.16.840.1.101.3.4.2.3', 64],
} as const;

const arbitraryCertId = fc
  .record({
    hash: fc.constantFrom(...(Object.keys(HASHES) as (keyof typeof HASHES)[])),
    withNullParameters: fc.boolean(),
    seed: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    // Minimal INTEGER encodings only: a redundant leading 00/FF is not DER, and requests carrying one are refused.
    serial: fc.uint8Array({ minLength: 1, maxLength: 21 }).filter((s) => !(s.length > 1 && ((s[0] === 0 && s[1]! < 0x80) || (s[0] === 0xff && s[1]! >= 0x80)))),
  })
  .map(
    ({ hash, withNullParameters, seed, serial }) =>
      new CertID({
        hashAlgorithm: new AlgorithmIdentifier({ algorithm: HASHES[hash][0], parameters: withNullParameters ? new Uint8Array([5, 0]).buffer : undefined }),
        issuerNameHash: new OctetString(seed.subarray(0, HASHES[hash][1])),
        issuerKeyHash: new OctetString(seed.slice().reverse().subarray(0, HASHES[hash][1])),
        serialNumber: serial.slice().buffer,
      }),
  );

const time = fc.integer({ min: Date.UTC(1950, 0, 1), max: Date.UTC(9000, 0, 1) }).map((ms) => new Date(ms));
const runs = { numRuns: 300 };

test('parseOcspRequest reads random requests as asn1-schema does, keeping the CertIDs as sent', () => {
  const nonce = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 128 }).map((n) => ref(new OctetString(n))),
    // A raw value that is itself an empty OCTET STRING (04 00) is a wrapped nonce of 0 octets,
    // which RFC 8954 forbids and the parser rightly refuses; it is not a raw nonce.
    fc.uint8Array({ minLength: 1, maxLength: 128 }).filter((n) => !(n.length === 2 && n[0] === 0x04 && n[1] === 0x00)),
  );
  const otherExtension = new Extension({ extnID: '1.3.6.1.5.5.7.48.1.4', critical: true, extnValue: new OctetString(ref(new OctetString(new Uint8Array(3)))) });
  fc.assert(
    fc.property(
      fc.array(arbitraryCertId, { minLength: 1, maxLength: 4 }),
      fc.option(nonce, { nil: undefined }),
      fc.boolean(),
      (certIds, nonceValue, withOtherExtension) => {
        const extensions = [
          ...(withOtherExtension ? [otherExtension] : []),
          ...(nonceValue ? [new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: new OctetString(nonceValue) })] : []),
        ];
        const der = ref(
          new OCSPRequest({
            tbsRequest: new TBSRequest({
              requestList: certIds.map((reqCert) => new Request({ reqCert })),
              requestExtensions: extensions.length > 0 ? extensions : undefined,
            }),
          }),
        );
        const parsed = parseOcspRequest(der);
        assert.deepEqual(parsed.nonce, nonceValue);
        assert.equal(parsed.requests.length, certIds.length);
        parsed.requests.forEach((info, i) => {
          const certId = certIds[i]!;
          assert.deepEqual(info.der, ref(certId));
          assert.equal(info.hashAlgorithm, Object.entries(HASHES).find(([, [oid]]) => oid === certId.hashAlgorithm.algorithm)?.[0]);
          assert.deepEqual(info.issuerNameHash, new Uint8Array(certId.issuerNameHash.buffer));
          assert.deepEqual(info.issuerKeyHash, new Uint8Array(certId.issuerKeyHash.buffer));
          assert.equal(
            info.serial,
            Buffer.from(certId.serialNumber)
              .toString('hex')
              .replace(/^(00)+(?=.)/, ''),
          );
        });
      },
    ),
    runs,
  );
});

test('a request that is BER, not DER, is refused as malformed with the offence named', () => {
  const request = (serialNumber: number[], extensions?: Extension[]) =>
    ref(
      new OCSPRequest({
        tbsRequest: new TBSRequest({
          requestList: [
            new Request({
              reqCert: new CertID({
                hashAlgorithm: new AlgorithmIdentifier({ algorithm: HASHES.sha1[0] }),
                issuerNameHash: new OctetString(new Uint8Array(20).fill(1)),
                issuerKeyHash: new OctetString(new Uint8Array(20).fill(2)),
                serialNumber: new Uint8Array(serialNumber).buffer,
              }),
            }),
          ],
          requestExtensions: extensions,
        }),
      }),
    );
  const der = request([0x10, 0x01]);
  assert.equal(parseOcspRequest(der).requests[0]?.serial, '1001');
  // OCSPRequest's own length, 0x30 0x<n>, rewritten as 0x30 0x81 0x<n>.
  assert.ok(der[1]! < 0x80);
  const refused = (bytes: Uint8Array, message: RegExp) =>
    assert.throws(
      () => parseOcspRequest(bytes),
      (error: unknown) => {
        assert.ok(error instanceof OcspMalformedError, String(error));
        assert.match(error.message, message);
        return true;
      },
    );
  refused(
    new Uint8Array([0x30, 0x81, ...der.subarray(1)]),
    /^not a DER-encoded OCSPRequest: non-minimal length at offset 0 \(65 in long form; BER, not DER\)$/,
  );
  refused(new Uint8Array([0x30, 0x80, ...der.subarray(2), 0x00, 0x00]), /indefinite length at offset 0/);
  refused(new Uint8Array([...der, 0x00]), /1 octets follow the outer element/);
  refused(request([0x00, 0x10, 0x01]), /INTEGER at offset \d+ has a redundant leading octet/);
  const nonce = (value: number) =>
    new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: new OctetString(ref(new OctetString(new Uint8Array(16).fill(value)))) });
  assert.ok(parseOcspRequest(request([1], [nonce(1)])).nonce);
  refused(request([1], [nonce(1), nonce(2)]), /request extension 1\.3\.6\.1\.5\.5\.7\.48\.1\.2 appears more than once/);
});

test("the direct ResponseData and OCSPResponse encodings are byte-identical to asn1-schema's", () => {
  const status = fc.oneof(
    fc.constant({ kind: 'good' } as const),
    fc.constant({ kind: 'unknown' } as const),
    fc.record(
      { kind: fc.constant('revoked' as const), revokedAt: time, reason: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 8, 9, 10) },
      { requiredKeys: ['kind', 'revokedAt'] },
    ),
  );
  const single = fc
    .record({
      certId: arbitraryCertId,
      status,
      thisUpdate: time,
      validFor: fc.option(fc.integer({ min: 1000, max: 10 ** 10 }), { nil: undefined }),
    })
    .map(({ certId, status, thisUpdate, validFor }) => ({
      certId: { hashAlgorithm: 'sha1', issuerNameHash: new Uint8Array(), issuerKeyHash: new Uint8Array(), serial: '', der: ref(certId) } satisfies CertIdInfo,
      status,
      thisUpdate,
      ...(validFor === undefined ? {} : { nextUpdate: new Date(wholeSecond(thisUpdate).getTime() + validFor) }),
    }));
  const certificate = fc
    .uint8Array({ maxLength: 600 })
    .map((tbs) => new Uint8Array(tlvFor(0x30, [...tlvFor(0x30, tlvFor(0x04, [...tbs])), 0x30, 0x00, 0x03, 0x01, 0x00])));
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 20, maxLength: 20 }),
      time,
      fc.array(single, { minLength: 1, maxLength: 5 }),
      fc.option(fc.uint8Array({ minLength: 1, maxLength: 300 }), { nil: undefined }),
      fc.constantFrom('ECDSA-P256', 'ECDSA-P384', 'Ed25519' as const),
      fc.uint8Array({ minLength: 1, maxLength: 200 }),
      fc.array(certificate, { maxLength: 2 }),
      (responderKeyHash, producedAt, responses, nonce, algorithm, signature, certs) => {
        const contents: OcspResponseContents = { responderKeyHash, producedAt, responses, ...(nonce ? { nonce } : {}) };
        const data = buildOcspResponseData(contents);
        assert.deepEqual(data, referenceResponseData(contents));
        assert.deepEqual(assembleOcspResponse(data, algorithm, signature, certs), referenceAssembly(data, algorithm, signature, certs));
      },
    ),
    runs,
  );
});

/** Tag and shortest-form length around `content`, written independently of der-writer. */
function tlvFor(tag: number, content: number[]): number[] {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return [tag, ...length, ...content];
}
