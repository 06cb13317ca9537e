/**
 * The command part of the store port: commands queued for devices, each addressed to the gateway
 * the device is attached to and numbered in that gateway's own sequence, which is the downlink
 * stream's event id (a gateway resumes with `Last-Event-ID`). States only move forward:
 * queued → delivered → acknowledged, and expired or failed end a command. Reached as
 * `store.commands`.
 */

export const COMMAND_STATES = ['queued', 'delivered', 'acknowledged', 'expired', 'failed'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];

/** What a gateway may report about a command it delivers. */
export type CommandReportState = 'delivered' | 'acknowledged' | 'failed';

export interface CommandRecord {
  /** Random and URL-safe. */
  id: string;
  /** The gateway the command goes through (the device's attachment when it was queued). */
  gateway: string;
  deviceId: string;
  /** The home (tenant) the command was made in; null for the whole installation. */
  home: string | null;
  name: string;
  payload: Uint8Array;
  state: CommandState;
  /** Per gateway, increasing; assigned by the store. */
  sequence: number;
  createdAt: Date;
  expiresAt: Date;
  deliveredAt: Date | null;
  acknowledgedAt: Date | null;
  /** The principal id that queued it. */
  requestedBy: string;
  /** Why it failed, or what the device said with its acknowledgement. */
  detail: string | null;
}

export type NewCommand = Omit<CommandRecord, 'state' | 'sequence' | 'deliveredAt' | 'acknowledgedAt' | 'detail'>;

export interface CommandReport {
  commandId: string;
  state: CommandReportState;
  at: Date;
  detail?: string;
}

export interface CommandStore {
  /** Queues the command with the gateway's next sequence number; returns the stored record. */
  insertCommand(command: NewCommand): Promise<CommandRecord>;
  getCommand(id: string): Promise<CommandRecord | undefined>;
  getCommands(ids: readonly string[]): Promise<CommandRecord[]>;
  /** A device's commands, newest first. */
  /** With `homes`, only the commands sent for those homes (a home-confined reader): never a device's previous home's. */
  listDeviceCommands(deviceId: string, limit: number, homes?: readonly string[]): Promise<CommandRecord[]>;
  /** Forgets every command sent for the home; returns how many. */
  deleteCommandsOfHome(home: string): Promise<number>;
  /**
   * What a gateway still has to deliver or see acknowledged: queued and delivered commands with a
   * sequence above `afterSequence`, in sequence order, at most `limit`.
   */
  listOpenCommands(gateway: string, afterSequence: number, limit: number): Promise<CommandRecord[]>;
  /** Marks queued and delivered commands past their expiry `expired` (of one gateway or device, or all); returns how many. */
  expireCommands(now: Date, scope: { gateway?: string; deviceId?: string }): Promise<number>;
  /**
   * Moves a command forward by a gateway's report; a report that would move it back, or one about
   * an expired or failed command, changes nothing. Returns the command as it is after the report.
   */
  applyReport(report: CommandReport): Promise<CommandRecord | undefined>;
}
