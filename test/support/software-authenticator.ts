/**
 * A software passkey authenticator for tests without a browser: `none` attestation and ES256
 * assertions made with node:crypto and cbor2, as a platform authenticator would make them. Each
 * knob a test needs to play an attacker (another origin or RP ID, no user verification, a counter
 * that goes back, another user handle) is an option of the call.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { encode } from 'cbor2';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

const AAGUID = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

export interface SoftwareCredential {
  id: string;
  privateKey: KeyObject;
  rpId: string;
  /** base64url, as the registration options gave it. */
  userHandle: string;
  counter: number;
}

export interface CeremonyKnobs {
  origin: string;
  /** The RP ID hashed into authenticator data (default: the options' RP ID). */
  rpId?: string;
  userVerified?: boolean;
  type?: string;
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest();
/** cbor2 writes a Node Buffer as a tagged typed array; WebAuthn wants plain byte strings. */
const plain = (bytes: Buffer) => new Uint8Array(bytes);

function counterBytes(counter: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(counter);
  return out;
}

export class SoftwareAuthenticator {
  readonly credentials: SoftwareCredential[] = [];

  async create(options: PublicKeyCredentialCreationOptionsJSON, knobs: CeremonyKnobs): Promise<RegistrationResponseJSON> {
    const rpId = knobs.rpId ?? options.rp.id ?? '';
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const coseKey = new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, plain(Buffer.from(jwk.x as string, 'base64url'))],
      [-3, plain(Buffer.from(jwk.y as string, 'base64url'))],
    ]);
    const id = randomBytes(16);
    const credential: SoftwareCredential = {
      id: b64url(id),
      privateKey: createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })),
      rpId,
      userHandle: options.user.id,
      counter: 0,
    };
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const flags = FLAG_UP | FLAG_AT | (knobs.userVerified === false ? 0 : FLAG_UV);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([flags]), counterBytes(0), AAGUID, idLength, id, Buffer.from(encode(coseKey))]);
    const clientData = JSON.stringify({ type: knobs.type ?? 'webauthn.create', challenge: options.challenge, origin: knobs.origin, crossOrigin: false });
    this.credentials.push(credential);
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientData),
        attestationObject: b64url(
          encode(
            new Map<string, unknown>([
              ['fmt', 'none'],
              ['attStmt', new Map()],
              ['authData', plain(authData)],
            ]),
          ),
        ),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** An assertion by `credential` (default: the last one made), its counter advanced unless `counter` says otherwise. */
  async get(
    options: PublicKeyCredentialRequestOptionsJSON,
    knobs: CeremonyKnobs & { credential?: SoftwareCredential; counter?: number; userHandle?: string },
  ): Promise<AuthenticationResponseJSON> {
    const credential = knobs.credential ?? this.credentials.at(-1);
    if (!credential) throw new Error('the software authenticator holds no credential');
    credential.counter = knobs.counter ?? credential.counter + 1;
    const rpId = knobs.rpId ?? options.rpId ?? credential.rpId;
    const flags = FLAG_UP | (knobs.userVerified === false ? 0 : FLAG_UV);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([flags]), counterBytes(credential.counter)]);
    const clientData = JSON.stringify({ type: knobs.type ?? 'webauthn.get', challenge: options.challenge, origin: knobs.origin, crossOrigin: false });
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), credential.privateKey);
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientData),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        userHandle: knobs.userHandle ?? credential.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
