/**
 * PKCS#8 encryption with a work factor chosen here. Node's KeyObject.export({ cipher }) always
 * uses OpenSSL's default of 2,048 PBKDF2 iterations, far too few for a passphrase a person picked;
 * this writes the same PBES2 structure (RFC 8018: PBKDF2 with HMAC-SHA-256, AES-256-CBC) with
 * 600,000 iterations, as OWASP recommends for PBKDF2-HMAC-SHA256. OpenSSL and Node read it back
 * unchanged (createPrivateKey with a passphrase, `openssl pkey -passin`).
 */
import { createCipheriv, pbkdf2, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { NULL, octetString, oid, sequence, smallInteger } from '../pki/der-writer.js';
import { pemEncode } from '../pki/certificate-assembly.js';

export const PBKDF2_ITERATIONS = 600_000;

const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';
const OID_HMAC_SHA256 = '1.2.840.113549.2.9';
const OID_AES256_CBC = '2.16.840.1.101.3.4.1.42';

export async function encryptPrivateKeyPem(privateKey: KeyObject, passphrase: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = await promisify(pbkdf2)(passphrase, salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const plain = privateKey.export({ type: 'pkcs8', format: 'der' });
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  const algorithm = sequence(
    oid(OID_PBES2),
    sequence(
      sequence(oid(OID_PBKDF2), sequence(octetString(salt), smallInteger(iterations), sequence(oid(OID_HMAC_SHA256), NULL))),
      sequence(oid(OID_AES256_CBC), octetString(iv)),
    ),
  );
  return pemEncode('ENCRYPTED PRIVATE KEY', sequence(algorithm, octetString(encrypted)));
}
