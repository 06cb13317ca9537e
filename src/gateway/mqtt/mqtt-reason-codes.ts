/**
 * MQTT 5 reason codes (MQTT 5 §2.4) the gateway sends, and their MQTT 3.1.1 equivalents where
 * 3.1.1 has one (CONNACK return codes §3.2.2.3; SUBACK 0x80 failure). 3.1.1 has no reason for a
 * refused PUBLISH or a server-side DISCONNECT: there the connection is acknowledged or closed.
 */
export const REASON = {
  success: 0x00,
  grantedQos1: 0x01,
  noSubscriptionExisted: 0x11,
  unspecifiedError: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  unsupportedProtocolVersion: 0x84,
  clientIdentifierNotValid: 0x85,
  notAuthorized: 0x87,
  serverBusy: 0x89,
  serverShuttingDown: 0x8b,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdentifierNotFound: 0x92,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
  sharedSubscriptionsNotSupported: 0x9e,
  connectionRateExceeded: 0x9f,
  maximumConnectTime: 0xa0,
  administrativeAction: 0x98,
} as const;

/** MQTT 3.1.1 CONNACK return codes. */
export const CONNACK_311 = {
  accepted: 0,
  unacceptableProtocolVersion: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  notAuthorized: 5,
} as const;

/** The 3.1.1 CONNACK return code nearest a 5.0 reason. */
export function connackCode311(reason: number): number {
  switch (reason) {
    case REASON.success:
      return CONNACK_311.accepted;
    case REASON.unsupportedProtocolVersion:
      return CONNACK_311.unacceptableProtocolVersion;
    case REASON.clientIdentifierNotValid:
      return CONNACK_311.identifierRejected;
    case REASON.serverBusy:
    case REASON.connectionRateExceeded:
      return CONNACK_311.serverUnavailable;
    default:
      return CONNACK_311.notAuthorized;
  }
}
