/**
 * tls-alpn-01 (RFC 8737): the client proves control of a name by answering a TLS handshake that
 * carries SNI = the name and ALPN "acme-tls/1" with a self-signed certificate naming only that
 * name and holding a critical acmeIdentifier extension with SHA-256(key authorization).
 *
 * Failures of the certificate or of ALPN are `unauthorized`, as Boulder and Pebble report them;
 * failures to reach the host or finish the handshake are `connection`.
 */
import 'reflect-metadata';
import { createHash, timingSafeEqual, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { SubjectAlternativeName, id_ce_subjectAltName, type GeneralName } from '@peculiar/asn1-x509';
import { AcmeError } from './acme-error.js';
import type { ChallengeValidator } from './challenge-validators.js';

export const ACME_TLS_1_PROTOCOL = 'acme-tls/1';
/** id-pe-acmeIdentifier (RFC 8737 section 6.1). */
export const ID_PE_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';

export interface TlsAlpn01Options {
  /** The port validation connects to: 443 by RFC 8737; tests point it at their responder. */
  port: number;
  /** Connect here instead of resolving the name; SNI still carries the name. */
  address?: string;
  /** Bounds connect and handshake together. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const SHA256_BYTES = 32;

export function tlsAlpn01Validator(options: TlsAlpn01Options): ChallengeValidator {
  return {
    type: 'tls-alpn-01',
    identifierTypes: ['dns'],
    validate: async (context) => {
      const { type, value: name } = context.identifier;
      if (type !== 'dns') throw new AcmeError('malformed', `tls-alpn-01 cannot prove a ${quote(type)} identifier`);
      // SNI carries host names only (RFC 6066 section 3), and RFC 8555 7.1.3 leaves wildcards to dns-01.
      if (isIP(name) !== 0) throw new AcmeError('malformed', `tls-alpn-01 cannot prove the IP address ${quote(name)} as a DNS name`);
      if (name.startsWith('*.')) throw new AcmeError('malformed', `tls-alpn-01 cannot prove the wildcard name ${quote(name)}`);

      const where = options.address ? `${name} at ${options.address}:${options.port}` : `${name}:${options.port}`;
      const handshake = await fetchChallengeHandshake(name, where, options);
      if (handshake.alpn !== ACME_TLS_1_PROTOCOL) {
        const selected = handshake.alpn === false ? 'it selected no protocol' : `it selected ${quote(handshake.alpn)}`;
        throw new AcmeError('unauthorized', `tls-alpn-01: ${where} did not negotiate ALPN protocol "${ACME_TLS_1_PROTOCOL}" (${selected})`);
      }
      await checkChallengeCertificate(handshake.certificate, name, where, context.keyAuthorization);
    },
  };
}

interface ChallengeHandshake {
  alpn: string | false;
  certificate: Buffer;
}

function fetchChallengeHandshake(name: string, where: string, options: TlsAlpn01Options): Promise<ChallengeHandshake> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<ChallengeHandshake>((resolve, reject) => {
    let settled = false;
    let tcpConnected = false;
    let socket: TLSSocket | undefined;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      outcome();
    };
    // One deadline over connect and handshake: a responder that accepts TCP and then stalls must not hold validation.
    const timer = setTimeout(() => {
      const stage = tcpConnected ? 'complete a TLS handshake' : 'accept a TCP connection';
      finish(() => reject(new AcmeError('connection', `tls-alpn-01: ${where} did not ${stage} within ${timeoutMs} ms`)));
    }, timeoutMs);
    try {
      socket = connect({
        host: options.address ?? name,
        port: options.port,
        servername: name,
        ALPNProtocols: [ACME_TLS_1_PROTOCOL],
        // The challenge certificate is self-signed by design; it is judged below, not by a chain.
        rejectUnauthorized: false,
        // RFC 8737 section 4: validation MUST NOT negotiate below TLS 1.2.
        minVersion: 'TLSv1.2',
      });
    } catch (error) {
      finish(() => reject(new AcmeError('connection', `tls-alpn-01: cannot connect to ${where}: ${describeError(error)}`)));
      return;
    }
    const tls = socket;
    tls.on('connect', () => {
      tcpConnected = true;
    });
    tls.on('secureConnect', () => {
      const alpn = tls.alpnProtocol ?? false;
      // An empty object when the server sent no certificate (anonymous or PSK suites).
      const { raw } = tls.getPeerCertificate() as { raw?: Buffer };
      finish(() => {
        if (!raw || raw.length === 0) reject(new AcmeError('unauthorized', `tls-alpn-01: ${where} presented no certificate`));
        else resolve({ alpn, certificate: raw });
      });
    });
    tls.on('error', (error: Error & { code?: string }) => {
      // A server that knows ALPN but not acme-tls/1 aborts the handshake with no_application_protocol (RFC 7301 section 3.2).
      if (error.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
        finish(() =>
          reject(
            new AcmeError(
              'unauthorized',
              `tls-alpn-01: ${where} did not negotiate ALPN protocol "${ACME_TLS_1_PROTOCOL}" (it refused it with a no_application_protocol alert)`,
            ),
          ),
        );
        return;
      }
      const stage = tcpConnected ? 'complete a TLS handshake with' : 'connect to';
      finish(() => reject(new AcmeError('connection', `tls-alpn-01: cannot ${stage} ${where}: ${describeError(error)}`)));
    });
    tls.on('close', () => finish(() => reject(new AcmeError('connection', `tls-alpn-01: ${where} closed the connection before the TLS handshake completed`))));
  });
}

async function checkChallengeCertificate(der: Buffer, name: string, where: string, keyAuthorization: string): Promise<void> {
  const refusal = (problem: string): AcmeError => new AcmeError('unauthorized', `tls-alpn-01: the certificate from ${where} ${problem}`);

  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(new Uint8Array(der));
  } catch (error) {
    throw refusal(`cannot be parsed: ${describeError(error)}`);
  }

  const seen = new Set<string>();
  for (const extension of certificate.extensions) {
    // RFC 5280 4.2: an extension appears at most once; a repeat would let two readers see different values.
    if (seen.has(extension.type)) throw refusal(`repeats the ${extension.type} extension`);
    seen.add(extension.type);
  }

  const sanExtension = certificate.getExtension(id_ce_subjectAltName);
  if (!sanExtension) throw refusal('has no subjectAltName extension');
  let names: GeneralName[];
  try {
    names = [...AsnConvert.parse(sanExtension.value, SubjectAlternativeName)];
  } catch (error) {
    throw refusal(`has a malformed subjectAltName extension: ${describeError(error)}`);
  }
  const dnsName = names.length === 1 ? names[0]?.dNSName : undefined;
  if (dnsName === undefined) {
    throw refusal(
      `must name exactly one dNSName, ${quote(name)}, in subjectAltName, but it holds ${names.length === 0 ? 'no entries' : names.map(describeGeneralName).join(', ')}`,
    );
  }
  // DNS names compare case-insensitively (RFC 4343); IA5String keeps the comparison to ASCII.
  if (dnsName.toLowerCase() !== name.toLowerCase()) {
    throw refusal(`names dNSName ${quote(dnsName)} in subjectAltName instead of ${quote(name)}`);
  }

  const acmeIdentifier = certificate.getExtension(ID_PE_ACME_IDENTIFIER);
  if (!acmeIdentifier) throw refusal(`has no acmeIdentifier extension (${ID_PE_ACME_IDENTIFIER})`);
  if (!acmeIdentifier.critical) throw refusal('has an acmeIdentifier extension that is not marked critical');
  const received = parseAcmeIdentifier(acmeIdentifier.value);
  if (!received) throw refusal(`has an acmeIdentifier extension whose value is not a DER OCTET STRING of ${SHA256_BYTES} bytes`);
  const expected = createHash('sha256').update(keyAuthorization, 'utf8').digest();
  if (!timingSafeEqual(received, expected)) {
    throw refusal(`has acmeIdentifier ${received.toString('hex')}, but the SHA-256 of the key authorization is ${expected.toString('hex')}`);
  }

  // RFC 8737 section 3 has the client self-sign the certificate; Boulder enforces it, so a client that passes here passes there.
  let selfSigned: boolean;
  try {
    selfSigned = await certificate.isSelfSigned(webcrypto as unknown as Crypto);
  } catch (error) {
    throw refusal(`has a signature that cannot be checked: ${describeError(error)}`);
  }
  if (!selfSigned) throw refusal(`is not self-signed (issuer ${quote(certificate.issuer)}, subject ${quote(certificate.subject)})`);
}

/** The digest, if the value is exactly the DER encoding of a 32-byte OCTET STRING. */
function parseAcmeIdentifier(value: ArrayBuffer): Buffer | undefined {
  try {
    const octets = AsnConvert.parse(value, OctetString);
    const digest = Buffer.from(octets.buffer);
    // Re-encoding and comparing rejects trailing bytes, long-form lengths and constructed strings, which the parser tolerates.
    if (digest.length !== SHA256_BYTES || !Buffer.from(AsnConvert.serialize(new OctetString(digest))).equals(Buffer.from(value))) return undefined;
    return digest;
  } catch {
    return undefined;
  }
}

function describeGeneralName(generalName: GeneralName): string {
  if (generalName.dNSName !== undefined) return `dNSName ${quote(generalName.dNSName)}`;
  if (generalName.iPAddress !== undefined) return `iPAddress ${quote(generalName.iPAddress)}`;
  if (generalName.rfc822Name !== undefined) return `rfc822Name ${quote(generalName.rfc822Name)}`;
  if (generalName.uniformResourceIdentifier !== undefined) return `uniformResourceIdentifier ${quote(generalName.uniformResourceIdentifier)}`;
  const kind = Object.entries(generalName).find(([, value]) => value !== undefined)?.[0];
  return kind ?? 'an empty GeneralName';
}

const MAX_QUOTED = 255;

/** Names come from the peer: quoted so control characters stay visible, cut so a huge one cannot bloat the problem. */
function quote(text: string): string {
  return JSON.stringify(text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text);
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // OpenSSL errors carry a one-line reason; their message is a multi-line dump of the error queue.
  const { code, reason } = error as Error & { code?: string; reason?: string };
  const text = reason ?? error.message.split('\n')[0] ?? error.message;
  return code && !text.includes(code) ? `${text} (${code})` : text;
}
