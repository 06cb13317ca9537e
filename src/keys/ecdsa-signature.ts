import { AsnConvert } from '@peculiar/asn1-schema';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import { KeyError } from './key-error.js';

/** DER INTEGER contents for an unsigned big-endian value: minimal length, never negative. */
function unsignedIntegerBytes(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const padding = (trimmed[0] ?? 0) >= 0x80 ? 1 : 0;
  // Always a fresh array: its .buffer is handed on whole, and a Buffer may be a view into a pool.
  const result = new Uint8Array(trimmed.length + padding);
  result.set(trimmed, padding);
  return result;
}

/**
 * PKCS#11 CKM_ECDSA returns r||s (each half the field size, as in IEEE P1363); X.509, CRLs and
 * OCSP carry the DER Ecdsa-Sig-Value SEQUENCE { r INTEGER, s INTEGER } instead.
 */
export function ecdsaRawToDer(raw: Uint8Array, fieldBytes: number): Uint8Array {
  if (raw.length !== 2 * fieldBytes) {
    throw new KeyError(`ECDSA signature has ${raw.length} bytes, expected ${2 * fieldBytes}`);
  }
  const value = new ECDSASigValue({
    r: unsignedIntegerBytes(raw.subarray(0, fieldBytes)).buffer as ArrayBuffer,
    s: unsignedIntegerBytes(raw.subarray(fieldBytes)).buffer as ArrayBuffer,
  });
  return new Uint8Array(AsnConvert.serialize(value));
}
