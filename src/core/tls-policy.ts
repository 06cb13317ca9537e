/**
 * The TLS every Hearth server offers (the control plane's API, the gateway's listeners): TLS 1.3,
 * and TLS 1.2 only where the minimum allows it, then only ECDHE key exchange with AEAD ciphers
 * (no RSA key transport, no CBC, no CCM8, no ARIA or Camellia). Shared here so that the control
 * plane and the gateway, which import nothing of each other, offer the same suites.
 */
export type TlsMinimum = 'TLSv1.2' | 'TLSv1.3';

export const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

export const TLS12_ECDHE_AEAD = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

export function tlsServerPolicy(minVersion: TlsMinimum): { minVersion: TlsMinimum; ciphers: string; honorCipherOrder: true; ecdhCurve: string } {
  return { minVersion, ciphers: [...TLS13_SUITES, ...TLS12_ECDHE_AEAD].join(':'), honorCipherOrder: true, ecdhCurve: 'X25519:P-256:P-384' };
}

/** Which handshake failure an OpenSSL error on the server side stands for (a metric label). */
export function handshakeFailureReason(error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  if (/UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|WRONG_VERSION_NUMBER|VERSION_TOO_LOW|PROTOCOL_VERSION/.test(code)) return 'protocol-version';
  if (/NO_SHARED_CIPHER/.test(code)) return 'no-shared-cipher';
  if (/HTTP_REQUEST|WRONG_VERSION|UNKNOWN_PROTOCOL|PACKET_LENGTH/.test(code)) return 'not-tls';
  if (code === 'ECONNRESET' || /timed out/i.test(error.message)) return 'aborted';
  if (/UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE/.test(code)) return 'certificate-alert';
  return 'other';
}
