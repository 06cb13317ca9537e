/**
 * The device SDK (`hearth/device`): enrollment with attestation, renewal by ARI, a TLS context for
 * the gateway. It imports nothing of the control plane, so it runs on a device or a gateway alone.
 */
export {
  DeviceAgent,
  certificateId,
  isRetryable,
  type DeviceAgentOptions,
  type DeviceCredentials,
  type DeviceEvent,
  type FactoryCredentials,
} from './device-agent.js';
export { FileIdentityStore, MemoryIdentityStore, type DeviceIdentityStore, type DeviceKeyProvider, type DeviceState } from './identity-store.js';
export { AcmeClient, AcmeProblemError, type AcmeDirectory, type AcmeOrder, type RenewalInfo } from './acme-client.js';
export { orderCertificate, type ChallengeSolver } from './certificate-order.js';
export { Http01Responder } from './http01-responder.js';
export { HttpsTransport, TransportError } from './https-transport.js';
export { readFactoryCredentials, readBatchDevices } from './factory-credentials.js';
export { createRequestForKey, createKeyAndRequest } from '../pki/certificate-request.js';
export { keyObjectSigner, encodePackedAttestation, type AttestationSigner } from '../protocols/packed-attestation.js';
export { requestSensorToken, SensorMessageCounter, type SensorTokenRequest, type IssuedSensorToken } from './sensor-client.js';
export { pairingProof, COUNTER_PROPERTY } from '../protocols/sensor-pairing.js';
