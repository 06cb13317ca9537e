/**
 * The gateway part of the store port: registered home gateways and the devices attached to each.
 * A gateway is registered by an operator with its own external account binding key; only an ACME
 * account bound with that key gets certificates of the `gateway` profile, and a gateway speaks
 * only for the devices attached to it. Reached as `store.gateways`.
 */

export type GatewayStatus = 'active' | 'retired';

export interface GatewayRecord {
  /** The DNS name the gateway is reached by; its certificates are issued for this name alone. */
  name: string;
  /** The external account binding key the gateway enrolls with. */
  eabKid: string;
  status: GatewayStatus;
  createdAt: Date;
  retiredAt: Date | null;
  /** The home the gateway serves; its devices' messages belong to that home. */
  home: string | null;
}

export interface GatewayDeviceRecord {
  deviceId: string;
  gateway: string;
  attachedAt: Date;
}

export interface GatewayStore {
  /** UniqueViolationError when the name or the key is registered already. */
  insertGateway(gateway: GatewayRecord): Promise<void>;
  getGateway(name: string): Promise<GatewayRecord | undefined>;
  /** The gateway whose external account binding key this ACME account bound, if any. */
  findGatewayByAccount(accountId: string): Promise<GatewayRecord | undefined>;
  listGateways(): Promise<GatewayRecord[]>;
  /** active → retired; false when the gateway is unknown or retired already. */
  retireGateway(name: string, at: Date): Promise<boolean>;
  /**
   * Attaches each device not attached to any gateway yet to this one; returns, for every device
   * asked about, the gateway it is attached to now.
   */
  attachDevices(gateway: string, deviceIds: readonly string[], at: Date): Promise<Map<string, string>>;
  getDeviceAttachment(deviceId: string): Promise<GatewayDeviceRecord | undefined>;
  /** The gateway each of these devices is attached to; devices attached nowhere are left out. */
  findDeviceAttachments(deviceIds: readonly string[]): Promise<Map<string, string>>;
  /** Moves a device from one gateway to another; false when it was no longer attached to `from`. */
  moveDevice(deviceId: string, from: string, to: string, at: Date): Promise<boolean>;
  /** Sets or clears the home a gateway serves; false when the gateway is unknown. */
  setGatewayHome(name: string, home: string | null): Promise<boolean>;
  /** Ends a device's attachment (it moved home); false when it was attached nowhere. */
  detachDevice(deviceId: string): Promise<boolean>;
  /** Detaches every device of a gateway (it was retired); returns how many. */
  detachGatewayDevices(gateway: string): Promise<number>;
}
