/**
 * Joins a linted TBSCertificate and the signer's signature into a Certificate, and converts
 * between DER and PEM (RFC 7468).
 *
 * PEM is done here rather than with @peculiar/x509's PemConverter: that package can only be
 * imported after the global reflect-metadata polyfill (it uses tsyringe), which domain code should
 * not install as a side effect, and PemConverter does not check block labels, which pemDecode does.
 */
import type { KeyAlgorithm } from './signer.js';
import { signatureAlgorithmDer } from './signature-algorithm.js';
import { bitString, sequence } from './der-writer.js';

/**
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }, with
 * the TBS carried as the exact bytes that were signed: re-encoding a parsed TBSCertificate could
 * change them and break the signature.
 */
export function assembleCertificate(tbsDer: Uint8Array, algorithm: KeyAlgorithm, signature: Uint8Array): Uint8Array {
  return sequence(tbsDer, signatureAlgorithmDer(algorithm), bitString(signature));
}

export function pemEncode(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/**
 * DER of the first PEM block whose label is one of `labels`. Text around blocks (as `openssl`
 * writes it) is ignored; a block with other than base64 inside is refused.
 */
export function pemDecode(pem: string, labels: string | readonly string[]): Uint8Array {
  const wanted = typeof labels === 'string' ? [labels] : labels;
  for (const match of pem.matchAll(PEM_BLOCK)) {
    if (!wanted.includes(match[1]!)) continue;
    const body = match[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw new Error(`PEM ${match[1]} block is not valid base64`);
    return new Uint8Array(Buffer.from(body, 'base64'));
  }
  throw new Error(`no PEM block labelled ${wanted.map((l) => `"${l}"`).join(' or ')}`);
}

/**
 * DER of a text that is exactly one PEM block labelled one of `labels` (RFC 7468 strict form),
 * with nothing but whitespace around it: for requests from outside, where a second block or text
 * around the block would be a second reading of the same input.
 */
export function pemDecodeSingle(pem: string, labels: readonly string[]): Uint8Array {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  const begins = pem.match(/-----BEGIN /g)?.length ?? 0;
  if (blocks.length === 0 || begins === 0) throw new Error(`no PEM block labelled ${labels.map((l) => `"${l}"`).join(' or ')}`);
  if (blocks.length > 1 || begins > 1) throw new Error(`the text holds ${Math.max(blocks.length, begins)} PEM blocks; exactly one is accepted`);
  const block = blocks[0]!;
  if (!labels.includes(block[1]!)) throw new Error(`the PEM block is labelled "${block[1]}", not ${labels.map((l) => `"${l}"`).join(' or ')}`);
  if (pem.slice(0, block.index).trim() !== '') throw new Error('text precedes the PEM block');
  if (pem.slice(block.index + block[0].length).trim() !== '') throw new Error('text follows the PEM block');
  return pemDecode(block[0], block[1]!);
}

/** Every block labelled `label`, in order (a chain file). */
export function pemDecodeAll(pem: string, label: string): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  for (const match of pem.matchAll(PEM_BLOCK)) {
    if (match[1] === label) blocks.push(pemDecode(match[0], label));
  }
  return blocks;
}
