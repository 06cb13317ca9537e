/**
 * How a client's PUBLISH and the broker meet in `Broker.accept`: the publisher (its connection)
 * brings the message and its listener's last check; the broker decides (ACL), routes and hands the
 * message to its sinks; the answer says what the publisher acknowledges.
 *
 * Answers are numbers, not objects: one comes back for every message on the QoS 1 path, which
 * makes nothing it does not need.
 */
import type { ClientIdentity } from '../listener/client-identity.js';
import type { BrokerMessage } from '../mqtt/mqtt-session.js';

/** Routed (and kept where a sink took it): acknowledge now. */
export const ROUTED = 0;
/** Routed, and a sink is keeping it: the acknowledgement waits for `holdAcknowledgement`'s callback. */
export const HELD = -1;
/** A QoS 2 PUBLISH sent again before its PUBREL: routed the first time, acknowledged again. */
export const ALREADY_ROUTED = -2;

/**
 * `ROUTED`, `HELD`, `ALREADY_ROUTED`, or an MQTT 5 reason code (0x80 and above) refusing the
 * message: it was not routed, and a QoS 1/2 publisher hears that code (an MQTT 3.1.1 one hears a
 * plain acknowledgement, as the spec allows, §3.3.5).
 */
export type Acceptance = number;

/** The client side of `Broker.accept`: a connection. */
export interface Publisher {
  readonly identity: ClientIdentity;
  /**
   * Runs after the topic ACL admitted the message and before it is routed: `ALREADY_ROUTED` for a
   * QoS 2 resend, a refusal's reason code from the listener's publish guard (a sensor's replay
   * window), or `ROUTED` to go on. `packetId` is the publisher's own handle for the PUBLISH.
   */
  screen(message: BrokerMessage, packetId: number): Acceptance;
  /**
   * A sink is keeping a QoS 1/2 message: the publisher holds its acknowledgement (in order with
   * the others) until the returned callback says the message is kept, or why not.
   */
  holdAcknowledgement(packetId: number, qos: 1 | 2): (err: Error | null) => void;
}
