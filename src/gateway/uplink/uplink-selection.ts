/**
 * What goes up to the control plane: the messages devices and sensors published on the configured
 * topics (`uplink.topics`), less those under `uplink.exclude`. Messages from local rules or the
 * bridge are the home's own and stay home.
 */
import type { BrokerMessage } from '../mqtt/mqtt-session.js';
import { topicMatches } from '../policy/topic-filter.js';

export class UplinkSelection {
  constructor(
    private readonly topics: readonly string[],
    private readonly exclude: readonly string[],
  ) {}

  /** Tested on every message a client publishes: it makes nothing. */
  goesUp(message: BrokerMessage): boolean {
    return (
      (message.from.startsWith('urn:dev:ops:') || message.from.startsWith('sensor:')) &&
      this.topics.some((f) => topicMatches(f, message.topic)) &&
      !this.exclude.some((f) => topicMatches(f, message.topic))
    );
  }
}
