/**
 * tls-alpn-01 validation against real TLS responders on loopback, each serving a challenge
 * certificate built here the way an ACME client builds one (RFC 8737 section 3), correct or broken
 * in one particular way, plus responders that refuse, stall, or speak another ALPN protocol.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import acme from 'acme-client';
import { AcmeError, type AcmeErrorType } from '../../src/acme/acme-error.js';
import { ID_PE_ACME_IDENTIFIER, tlsAlpn01Validator } from '../../src/acme/tls-alpn01-validator.js';
import type { ChallengeContext } from '../../src/acme/challenge-validators.js';

const crypto = webcrypto as unknown as Crypto;
const NAME = 'thermostat-7.home.example';
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

function challengeContext(name = NAME): ChallengeContext {
  const token = randomBytes(16).toString('base64url');
  return { identifier: { type: 'dns', value: name }, token, keyAuthorization: `${token}.${randomBytes(32).toString('base64url')}` };
}

function digestOf(keyAuthorization: string): Buffer {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest();
}

function acmeIdentifierExtension(digest: Buffer, critical = true): x509.Extension {
  return new x509.Extension(ID_PE_ACME_IDENTIFIER, critical, AsnConvert.serialize(new OctetString(digest)));
}

interface ChallengeCertificate {
  certPem: string;
  keyPem: string;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A challenge certificate; `issuerKeys` makes it signed by another key instead of self-signed. */
async function challengeCertificate(options: { dnsNames: string[]; extensions: x509.Extension[]; issuerKeys?: CryptoKeyPair }): Promise<ChallengeCertificate> {
  const keys = await generateKeys();
  const extensions = [new x509.SubjectAlternativeNameExtension(options.dnsNames.map((value) => ({ type: 'dns' as const, value }))), ...options.extensions];
  const validity = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) };
  const certificate = options.issuerKeys
    ? await x509.X509CertificateGenerator.create(
        {
          subject: 'CN=ACME challenge',
          issuer: 'CN=Some Other CA',
          publicKey: keys.publicKey,
          signingKey: options.issuerKeys.privateKey,
          signingAlgorithm: ALGORITHM,
          extensions,
          ...validity,
        },
        crypto,
      )
    : await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=ACME challenge', keys, signingAlgorithm: ALGORITHM, extensions, ...validity }, crypto);
  return { certPem: certificate.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

interface Responder {
  port: number;
  /** The SNI of every ClientHello the responder saw. */
  serverNames: string[];
  close(): Promise<void>;
}

/** `alpnProtocols` null: a responder that knows nothing of ALPN. */
async function tlsResponder(certificate: ChallengeCertificate, alpnProtocols: string[] | null): Promise<Responder> {
  const serverNames: string[] = [];
  const server = createTlsServer({
    cert: certificate.certPem,
    key: certificate.keyPem,
    ...(alpnProtocols ? { ALPNProtocols: alpnProtocols } : {}),
    // Read from the ClientHello: the validator may hang up before the server sees the handshake finish.
    SNICallback: (servername, done) => {
      serverNames.push(servername);
      done(null, undefined);
    },
  });
  // Handshakes the responder refuses (no shared ALPN protocol) surface here; the validator's view is what the tests check.
  server.on('tlsClientError', () => {});
  return { ...(await listen(server)), serverNames };
}

async function listen(server: TcpServer): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function validatorFor(port: number, timeoutMs?: number) {
  return tlsAlpn01Validator({ port, address: '127.0.0.1', ...(timeoutMs ? { timeoutMs } : {}) });
}

async function assertRefused(promise: Promise<unknown>, acmeType: AcmeErrorType, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AcmeError, `expected an AcmeError, got ${String(error)}`);
    assert.equal(error.acmeType, acmeType, error.message);
    assert.match(error.message, detail);
    assert.ok(error.message.includes(NAME), `the detail names the host: ${error.message}`);
    return true;
  });
}

/** Serves `certificate` and validates `context` against it. */
async function validateAgainst(
  certificate: ChallengeCertificate,
  context: ChallengeContext,
  alpnProtocols: string[] | null = ['acme-tls/1'],
): Promise<{ result: Promise<unknown>; responder: Responder }> {
  const responder = await tlsResponder(certificate, alpnProtocols);
  const result = validatorFor(responder.port).validate(context);
  // Settle before closing so the server's teardown cannot be what the validator reports.
  await result.catch(() => {});
  await responder.close();
  return { result, responder };
}

test('a correct challenge certificate over acme-tls/1 validates, and the handshake carried the name as SNI', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({ dnsNames: [NAME], extensions: [acmeIdentifierExtension(digestOf(context.keyAuthorization))] });
  const { result, responder } = await validateAgainst(certificate, context);
  await result;
  assert.deepEqual(responder.serverNames, [NAME]);
});

test('the challenge certificate the npm acme-client makes (RSA, CA extensions, already expired) validates', async () => {
  const context = challengeContext();
  const authorization = { identifier: context.identifier } as unknown as acme.Authorization;
  const [keyPem, certPem] = await acme.crypto.createAlpnCertificate(authorization, context.keyAuthorization);
  await (
    await validateAgainst({ certPem: certPem.toString(), keyPem: keyPem.toString() }, context)
  ).result;
});

test('the dNSName compares case-insensitively', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({ dnsNames: [NAME.toUpperCase()], extensions: [acmeIdentifierExtension(digestOf(context.keyAuthorization))] });
  await (
    await validateAgainst(certificate, context)
  ).result;
});

test('a digest of another key authorization is unauthorized, and the detail gives both digests', async () => {
  const context = challengeContext();
  const wrong = digestOf(`${context.keyAuthorization}x`);
  const certificate = await challengeCertificate({ dnsNames: [NAME], extensions: [acmeIdentifierExtension(wrong)] });
  const { result } = await validateAgainst(certificate, context);
  await assertRefused(
    result,
    'unauthorized',
    new RegExp(`acmeIdentifier ${wrong.toString('hex')}, but the SHA-256 of the key authorization is ${digestOf(context.keyAuthorization).toString('hex')}`),
  );
});

test('an acmeIdentifier extension that is not critical is unauthorized', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({ dnsNames: [NAME], extensions: [acmeIdentifierExtension(digestOf(context.keyAuthorization), false)] });
  const { result } = await validateAgainst(certificate, context);
  await assertRefused(result, 'unauthorized', /acmeIdentifier extension that is not marked critical/);
});

test('a certificate without the acmeIdentifier extension is unauthorized', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({ dnsNames: [NAME], extensions: [] });
  const { result } = await validateAgainst(certificate, context);
  await assertRefused(result, 'unauthorized', /has no acmeIdentifier extension \(1\.3\.6\.1\.5\.5\.7\.1\.31\)/);
});

test('a bare digest not wrapped in an OCTET STRING is unauthorized', async () => {
  const context = challengeContext();
  const bare = new x509.Extension(ID_PE_ACME_IDENTIFIER, true, new Uint8Array(digestOf(context.keyAuthorization)));
  const certificate = await challengeCertificate({ dnsNames: [NAME], extensions: [bare] });
  const { result } = await validateAgainst(certificate, context);
  await assertRefused(result, 'unauthorized', /acmeIdentifier extension whose value is not a DER OCTET STRING of 32 bytes/);
});

test('an OCTET STRING followed by trailing bytes is unauthorized', async () => {
  const context = challengeContext();
  const padded = Buffer.concat([Buffer.from(AsnConvert.serialize(new OctetString(digestOf(context.keyAuthorization)))), Buffer.from([0])]);
  const certificate = await challengeCertificate({ dnsNames: [NAME], extensions: [new x509.Extension(ID_PE_ACME_IDENTIFIER, true, new Uint8Array(padded))] });
  const { result } = await validateAgainst(certificate, context);
  await assertRefused(result, 'unauthorized', /not a DER OCTET STRING of 32 bytes/);
});

test('a subjectAltName for another name is unauthorized', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({ dnsNames: ['attacker.example'], extensions: [acmeIdentifierExtension(digestOf(context.keyAuthorization))] });
  const { result } = await validateAgainst(certificate, context);
  await assertRefused(result, 'unauthorized', /names dNSName "attacker\.example" in subjectAltName instead of "thermostat-7\.home\.example"/);
});

test('a subjectAltName with a second name is unauthorized', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({
    dnsNames: [NAME, 'attacker.example'],
    extensions: [acmeIdentifierExtension(digestOf(context.keyAuthorization))],
  });
  const { result } = await validateAgainst(certificate, context);
  await assertRefused(result, 'unauthorized', /exactly one dNSName.*holds dNSName "thermostat-7\.home\.example", dNSName "attacker\.example"/);
});

test('a certificate signed by another key is unauthorized', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({
    dnsNames: [NAME],
    extensions: [acmeIdentifierExtension(digestOf(context.keyAuthorization))],
    issuerKeys: await generateKeys(),
  });
  const { result } = await validateAgainst(certificate, context);
  await assertRefused(result, 'unauthorized', /is not self-signed/);
});

test('a server that speaks only h2 is unauthorized', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({ dnsNames: [NAME], extensions: [acmeIdentifierExtension(digestOf(context.keyAuthorization))] });
  const { result } = await validateAgainst(certificate, context, ['h2']);
  await assertRefused(result, 'unauthorized', /did not negotiate ALPN protocol "acme-tls\/1"/);
});

test('a server that ignores ALPN is unauthorized even with a correct certificate', async () => {
  const context = challengeContext();
  const certificate = await challengeCertificate({ dnsNames: [NAME], extensions: [acmeIdentifierExtension(digestOf(context.keyAuthorization))] });
  const { result, responder } = await validateAgainst(certificate, context, null);
  await assertRefused(result, 'unauthorized', /did not negotiate ALPN protocol "acme-tls\/1" \(it selected no protocol\)/);
  assert.deepEqual(responder.serverNames, [NAME]);
});

test('a refused connection is a connection problem', async () => {
  const probe = await listen(createTcpServer());
  await probe.close();
  await assertRefused(validatorFor(probe.port).validate(challengeContext()), 'connection', /cannot connect to .*ECONNREFUSED/);
});

test('a server that accepts TCP and never answers times out as a connection problem', async () => {
  const silent = await listen(createTcpServer());
  const started = Date.now();
  try {
    await assertRefused(validatorFor(silent.port, 300).validate(challengeContext()), 'connection', /did not complete a TLS handshake within 300 ms/);
    assert.ok(Date.now() - started < 5_000, `gave up after ${Date.now() - started} ms`);
  } finally {
    await silent.close();
  }
});

test('a server that hangs up before the handshake is a connection problem', async () => {
  const rude = createTcpServer((socket) => socket.destroy());
  const listening = await listen(rude);
  try {
    await assertRefused(
      validatorFor(listening.port).validate(challengeContext()),
      'connection',
      /cannot (connect to|complete a TLS handshake with) .*(ECONNRESET|EPIPE)|closed the connection before the TLS handshake/,
    );
  } finally {
    await listening.close();
  }
});

test('identifiers tls-alpn-01 cannot prove are refused before connecting', async () => {
  const validator = tlsAlpn01Validator({ port: 1, address: '127.0.0.1' });
  for (const value of ['192.0.2.7', `*.${NAME}`]) {
    await assert.rejects(
      validator.validate({ ...challengeContext(), identifier: { type: 'dns', value } }),
      (error: unknown) => error instanceof AcmeError && error.acmeType === 'malformed',
    );
  }
  await assert.rejects(
    validator.validate({ ...challengeContext(), identifier: { type: 'ip', value: '192.0.2.7' } }),
    (error: unknown) => error instanceof AcmeError && error.acmeType === 'malformed',
  );
});
