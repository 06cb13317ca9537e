/**
 * device-attest-01 (draft-acme-device-attest): the client answers with
 * `{"attObj": base64url(CBOR WebAuthn attestation object)}`, and the provisioning service checks
 * the factory chain, the enrollment and the signature over SHA-256(key authorization). Its
 * evidence, the attested key, is what the finalize CSR must carry.
 */
import type { AttestedDevice, DeviceAttestation } from '../provisioning/attestation/device-attestation.js';
import { AttestationRefusedError } from '../provisioning/attestation/device-attestation.js';
import { MAX_ATTESTATION_BYTES } from '../protocols/packed-attestation.js';
import { AcmeError } from './acme-error.js';
import type { ChallengeValidator } from './challenge-validators.js';

export const DEVICE_ATTEST_01 = 'device-attest-01';
export const PERMANENT_IDENTIFIER = 'permanent-identifier';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function deviceAttest01Validator(attestation: DeviceAttestation, onAttested?: (device: AttestedDevice) => void): ChallengeValidator {
  return {
    type: DEVICE_ATTEST_01,
    identifierTypes: [PERMANENT_IDENTIFIER],
    async validate(context) {
      const attObj = context.payload?.attObj;
      if (typeof attObj !== 'string' || !BASE64URL.test(attObj))
        throw new AcmeError('malformed', 'device-attest-01 is answered with {"attObj": base64url attestation object}');
      if (attObj.length > Math.ceil((MAX_ATTESTATION_BYTES * 4) / 3))
        throw new AcmeError('badAttestationStatement', `the attestation object is larger than ${MAX_ATTESTATION_BYTES} bytes`);
      try {
        const device = await attestation.verify(context.identifier.value, Buffer.from(attObj, 'base64url'), context.keyAuthorization);
        onAttested?.(device);
        return { attestedKeySha256: device.attestedKeySha256 };
      } catch (error) {
        if (error instanceof AttestationRefusedError) throw new AcmeError(error.kind, error.message);
        throw error;
      }
    },
  };
}
