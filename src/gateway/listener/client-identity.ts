/**
 * Who is on the other end of a gateway connection, as the listener established it before any MQTT
 * was read: a device by its certificate, a sensor by its token, or a refusal with the reason the
 * handshake or the check failed (the MQTT CONNACK then says "not authorized").
 */
export type ClientIdentity =
  | {
      kind: 'device';
      /** The certificate's SAN URI, `urn:dev:ops:…`. */
      deviceId: string;
      serial: string;
      notAfter: Date;
    }
  | {
      kind: 'sensor';
      deviceId: string;
      /** The token's `exp`. */
      notAfter: Date;
    };

/** Why a client was refused; these are the label values of the handshake-failure metric. */
export type RefusalReason =
  'no-client-cert' | 'unknown-ca' | 'expired' | 'not-yet-valid' | 'revoked' | 'no-device-id' | 'bad-certificate' | 'bad-token' | 'protocol-version';

export type ConnectionIdentity = { accepted: ClientIdentity } | { refused: RefusalReason; detail: string };
