/**
 * Commands to devices. An operator's command is queued for the gateway the device is attached to
 * (store.gateways) and goes down that gateway's downlink stream; the gateway reports back when the
 * device has it (its PUBACK), when the device acknowledged it, or that it failed. A command that
 * is not acknowledged within its time to live expires. States only move forward, and a gateway
 * may report only about commands addressed to it.
 *
 * Every refusal is a HearthError with a stable problem type, raised before anything is written.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { BadRequestError, ConflictError, ForbiddenError, HearthError } from '../core/errors.js';
import { isDeviceId } from '../pki/device-id.js';
import type { CommandRecord, CommandReport } from '../store/command-store.js';
import type { Store } from '../store/store.js';
import type { CommandNotifier } from './command-notifier.js';

/** A command's name: the last level of its MQTT topic, `hearth/<device-id>/cmd/<name>`. */
export const COMMAND_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** The largest payload a command carries: small enough for any device's receive buffer. */
export const MAX_COMMAND_PAYLOAD_BYTES = 16 * 1024;
export const DEFAULT_COMMAND_TTL_SECONDS = 5 * 60;
export const MAX_COMMAND_TTL_SECONDS = 24 * 60 * 60;
/** A gateway's report dated this far ahead of the control plane's clock is refused: the gateway's clock is wrong. */
const MAX_CLOCK_AHEAD_MS = 5 * 60_000;

export interface CommandRequest {
  deviceId: string;
  name: string;
  payload: Uint8Array;
  ttlSeconds?: number;
  /** The principal that asks. */
  requestedBy: string;
}

export class DeviceCommands {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly notifier: CommandNotifier,
  ) {}

  /** Queues the command for the device's gateway and nudges that gateway's open downlinks. */
  async queue(request: CommandRequest): Promise<CommandRecord> {
    const { deviceId, name, payload } = request;
    assertDeviceId(deviceId);
    if (!COMMAND_NAME.test(name))
      throw new BadRequestError(`command name ${JSON.stringify(name)} does not match ${COMMAND_NAME.source}`, 'invalid-command-name');
    if (payload.byteLength > MAX_COMMAND_PAYLOAD_BYTES) {
      throw new HearthError(
        'command-too-large',
        413,
        'Command too large',
        `the payload is ${payload.byteLength} bytes; a command carries at most ${MAX_COMMAND_PAYLOAD_BYTES}`,
      );
    }
    const ttlSeconds = request.ttlSeconds ?? DEFAULT_COMMAND_TTL_SECONDS;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_COMMAND_TTL_SECONDS)
      throw new BadRequestError(`ttlSeconds must be a whole number from 1 to ${MAX_COMMAND_TTL_SECONDS}`, 'invalid-command-ttl');
    const attachment = await this.store.gateways.getDeviceAttachment(deviceId);
    if (!attachment) {
      await this.assertKnownDevice(deviceId);
      throw new ConflictError(
        `${deviceId} is attached to no gateway: a device is attached to the first registered gateway it connects through, and commands go down that gateway`,
        'device-not-attached',
      );
    }
    const now = this.clock.now();
    // The command belongs to the home the device is claimed into, for home-scoped reads and audits.
    const home = (await this.store.provisioning.getEnrollment(deviceId))?.home ?? null;
    // A claimed device's commands go only through a gateway of its home: a gateway of another home
    // that reported the device first would otherwise receive them (until the home's own reports it).
    if (home !== null && (await this.store.gateways.getGateway(attachment.gateway))?.home !== home)
      throw new ConflictError(
        `${deviceId} is claimed into ${home} but attached to a gateway of another home; it moves to its home's gateway when that gateway reports it`,
        'device-not-attached',
      );
    const command = await this.store.commands.insertCommand({
      id: `cmd_${randomBytes(16).toString('base64url')}`,
      gateway: attachment.gateway,
      deviceId,
      home,
      name,
      payload,
      createdAt: now,
      expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
      requestedBy: request.requestedBy,
    });
    this.notifier.notify(command.gateway);
    return command;
  }

  /** One command of the device, its expiry applied; with `homes`, only one sent for those homes. */
  async get(deviceId: string, commandId: string, homes?: readonly string[]): Promise<CommandRecord> {
    assertDeviceId(deviceId);
    await this.store.commands.expireCommands(this.clock.now(), { deviceId });
    const command = await this.store.commands.getCommand(commandId);
    // Another device's command, or one sent for the device's previous home, is as unknown here as a made-up id.
    if (command?.deviceId !== deviceId || (homes !== undefined && (command.home === null || !homes.includes(command.home))))
      throw new HearthError('unknown-command', 404, 'Unknown command', `${deviceId} has no command ${commandId}`);
    return command;
  }

  /** The device's commands, newest first, their expiry applied; with `homes`, only those sent for those homes. */
  async list(deviceId: string, limit: number, homes?: readonly string[]): Promise<CommandRecord[]> {
    assertDeviceId(deviceId);
    await this.store.commands.expireCommands(this.clock.now(), { deviceId });
    return this.store.commands.listDeviceCommands(deviceId, limit, homes);
  }

  /**
   * What a gateway's downlink sends after `afterSequence`: its queued and delivered commands, in
   * sequence order; those past their expiry are marked expired first and not sent.
   */
  async openFor(gateway: string, afterSequence: number, limit: number): Promise<CommandRecord[]> {
    const now = this.clock.now();
    const open = await this.store.commands.listOpenCommands(gateway, afterSequence, limit);
    // A stream looks often and usually finds nothing due: only then is there something to write.
    if (!open.some((command) => command.expiresAt.getTime() <= now.getTime())) return open;
    await this.store.commands.expireCommands(now, { gateway });
    return this.store.commands.listOpenCommands(gateway, afterSequence, limit);
  }

  /** Calls `listener` when a command is queued for `gateway` in this process. */
  onQueued(gateway: string, listener: () => void): () => void {
    return this.notifier.subscribe(gateway, listener);
  }

  /**
   * A gateway's reports, all or none: a batch naming a command addressed elsewhere (or no
   * command at all) is refused whole and changes nothing. A report dated after the command's
   * expiry does not count (the command expires); one that would move a command back is ignored.
   */
  async report(gateway: string, reports: readonly CommandReport[]): Promise<CommandRecord[]> {
    const now = this.clock.now();
    const ahead = reports.find((r) => r.at.getTime() > now.getTime() + MAX_CLOCK_AHEAD_MS);
    if (ahead) throw new BadRequestError(`the report on ${ahead.commandId} is dated ahead of the control plane's clock by more than 5 minutes`);
    return this.store.transaction(async (tx) => {
      const found = new Map((await tx.commands.getCommands(reports.map((r) => r.commandId))).map((c) => [c.id, c]));
      const foreign = reports.filter((r) => found.get(r.commandId)?.gateway !== gateway).map((r) => r.commandId);
      if (foreign.length > 0) {
        throw new ForbiddenError(
          `gateway ${gateway} may report only on commands addressed to it, not ${[...new Set(foreign)].join(', ')}`,
          'command-not-addressed',
        );
      }
      for (const report of reports) {
        const command = found.get(report.commandId) as CommandRecord;
        if (report.at.getTime() < command.expiresAt.getTime()) await tx.commands.applyReport(report);
      }
      await tx.commands.expireCommands(now, { gateway });
      // Answered in the order the reports named them (each once), whatever order the store reads them in.
      const after = new Map((await tx.commands.getCommands(reports.map((r) => r.commandId))).map((c) => [c.id, c]));
      return [...new Set(reports.map((r) => r.commandId))].map((id) => after.get(id) as CommandRecord);
    });
  }

  private async assertKnownDevice(deviceId: string): Promise<void> {
    const [certificate] = await this.store.certificates.listCertificates({ identifier: deviceId, limit: 1 });
    if (certificate?.profile !== 'device')
      throw new HearthError('unknown-device', 404, 'Unknown device', `this installation never issued a device certificate to ${deviceId}`);
  }
}

function assertDeviceId(deviceId: string): void {
  if (!isDeviceId(deviceId))
    throw new BadRequestError(`${JSON.stringify(deviceId)} is not a device identifier (urn:dev:ops:<manufacturer>-<model>-<serial>)`, 'invalid-device-id');
}
