import { createPublicKey, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ECDSA_CURVES, KEY_ALGORITHMS, isEcdsa } from './key-algorithm.js';
import { KeyError } from './key-error.js';
import type { KeyAlgorithm, Signer } from '../pki/signer.js';

/** The Hearth algorithm of a node:crypto private key, or a KeyError for anything else. */
export function keyAlgorithmOf(key: KeyObject, source: string): KeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'Ed25519';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    for (const algorithm of KEY_ALGORITHMS) {
      if (isEcdsa(algorithm) && ECDSA_CURVES[algorithm].opensslName === curve) return algorithm;
    }
  }
  const details = key.asymmetricKeyDetails?.namedCurve ?? '';
  throw new KeyError(`${source} holds an unsupported key type ${key.asymmetricKeyType ?? 'unknown'} ${details}`.trim());
}

/** A Signer over a private key held in process memory (loaded from an encrypted file). */
export function keyObjectSigner(privateKey: KeyObject, algorithm: KeyAlgorithm): Signer {
  const spki = new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const hash = isEcdsa(algorithm) ? ECDSA_CURVES[algorithm].hash : null;
  return {
    algorithm,
    publicKeySpki: async () => spki.slice(),
    // The callback form runs in libuv's thread pool, so a busy CA does not stall the event loop.
    sign: (data) =>
      new Promise<Uint8Array>((resolve, reject) => {
        cryptoSign(hash, data, { key: privateKey, dsaEncoding: 'der' }, (error, signature) => {
          if (error) reject(new KeyError(`signing with the ${algorithm} key failed: ${error.message}`));
          else resolve(new Uint8Array(signature));
        });
      }),
  };
}
