/**
 * The telemetry part of the store port: messages the home gateways forward from their devices.
 * Each gateway numbers its messages; (gateway, message id) is the key, so a batch a gateway sends
 * again after a lost answer is stored once. Reached as `store.telemetry`.
 */

export interface TelemetryMessageRecord {
  /** The gateway's certificate identifier (its DNS name). */
  gateway: string;
  /** The gateway's id for the message, unique for that gateway. */
  messageId: string;
  deviceId: string;
  topic: string;
  payload: Uint8Array;
  qos: number;
  /** When the device published it, by the gateway's clock. */
  publishedAt: Date;
  /** When the control plane stored it. */
  receivedAt: Date;
  /** The home the message was produced in: its gateway's, when the gateway serves one. */
  home: string | null;
}

export interface TelemetryQuery {
  deviceId?: string;
  gateway?: string;
  /** Only messages produced in these homes (a home-confined reader). */
  homes?: readonly string[];
  /** Newest first; at most this many. */
  limit: number;
}

export interface TelemetryStore {
  /** Stores the messages not stored before; returns how many were new. All in one transaction. */
  insertTelemetry(messages: readonly TelemetryMessageRecord[]): Promise<number>;
  listTelemetry(query: TelemetryQuery): Promise<TelemetryMessageRecord[]>;
  /** Messages stored for a gateway (or all): what an operator checks after an outage. */
  countTelemetry(query: { gateway?: string; deviceId?: string; homes?: readonly string[] }): Promise<number>;
  /** Forgets every message produced in the home; returns how many. */
  deleteTelemetryOfHome(home: string): Promise<number>;
}
