/**
 * What the downlink keeps on the gateway's disk, in the uplink's SQLite file (`<dir>/uplink.db`,
 * tables of its own, a connection of its own): the commands received and not yet finished, the
 * reports not yet taken by the control plane, and the highest sequence number received. A restart
 * resumes from them: held commands are delivered, reports sent, and the stream is resumed after
 * the last sequence below which every command is finished, so the control plane replays only what
 * may not have arrived, and a command finished here is never delivered again.
 *
 * Commands are rare and small, so each change is its own transaction, synced before it returns
 * (`synchronous = FULL`): a command the gateway has is not lost, nor a report it made.
 */
import { closeSync, openSync } from 'node:fs';
import { Database } from '../../core/better-sqlite3-module.js';

export interface HeldCommand {
  id: string;
  sequence: number;
  deviceId: string;
  name: string;
  payload: Buffer;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** The device PUBACKed it (reported `delivered`); it waits for the device's acknowledgement. */
  delivered: boolean;
}

export interface DownlinkReport {
  commandId: string;
  state: 'delivered' | 'acknowledged' | 'failed';
  /** RFC 3339, by the gateway's clock. */
  at: string;
  detail?: string;
}

export interface StoredReport extends DownlinkReport {
  rowid: number;
}

interface CommandRow {
  id: string;
  sequence: number;
  device_id: string;
  name: string;
  payload: Buffer;
  expires_at: number;
  delivered: number;
}

export class DownlinkState {
  private readonly db: InstanceType<typeof Database>;
  private readonly statements;
  private maxSeen: number;

  constructor(path: string) {
    // Created owner-only before SQLite opens it, as the uplink does (it may be the first to open it).
    closeSync(openSync(path, 'a', 0o600));
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS downlink_commands (
        id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, device_id TEXT NOT NULL, name TEXT NOT NULL,
        payload BLOB NOT NULL, expires_at INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS downlink_reports (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT, command_id TEXT NOT NULL, state TEXT NOT NULL, at TEXT NOT NULL, detail TEXT);
      CREATE TABLE IF NOT EXISTS downlink_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`);
    this.statements = {
      insert: this.db.prepare(
        'INSERT OR IGNORE INTO downlink_commands (id, sequence, device_id, name, payload, expires_at, delivered) VALUES (?, ?, ?, ?, ?, ?, 0)',
      ),
      held: this.db.prepare('SELECT 1 FROM downlink_commands WHERE id = ?').pluck(),
      all: this.db.prepare('SELECT * FROM downlink_commands ORDER BY sequence'),
      lowest: this.db.prepare('SELECT min(sequence) FROM downlink_commands').pluck(),
      delivered: this.db.prepare('UPDATE downlink_commands SET delivered = 1 WHERE id = ?'),
      finish: this.db.prepare('DELETE FROM downlink_commands WHERE id = ?'),
      saveMaxSeen: this.db.prepare("INSERT INTO downlink_meta (key, value) VALUES ('max_seen', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      addReport: this.db.prepare('INSERT INTO downlink_reports (command_id, state, at, detail) VALUES (?, ?, ?, ?)'),
      reports: this.db.prepare('SELECT rowid, command_id, state, at, detail FROM downlink_reports ORDER BY rowid LIMIT ?'),
      deleteReports: this.db.prepare('DELETE FROM downlink_reports WHERE rowid <= ?'),
    };
    this.maxSeen = Number(this.db.prepare("SELECT value FROM downlink_meta WHERE key = 'max_seen'").pluck().get() ?? 0);
  }

  /**
   * The stream's Last-Event-ID: every command at or below it is finished here (or was never
   * sent, being acknowledged or expired at the control plane), so only those above are asked for.
   */
  resumeAfter(): number {
    const lowest = this.statements.lowest.get() as number | null;
    return lowest === null ? this.maxSeen : Math.min(lowest - 1, this.maxSeen);
  }

  /** Whether a command the stream sends is new here: not held, and not finished (at or below the highest sequence seen). */
  isNew(id: string, sequence: number): boolean {
    return this.statements.held.get(id) === undefined && sequence > this.maxSeen;
  }

  hold(command: Omit<HeldCommand, 'delivered'>): void {
    this.db.transaction(() => {
      this.statements.insert.run(command.id, command.sequence, command.deviceId, command.name, command.payload, command.expiresAt);
      if (command.sequence > this.maxSeen) {
        this.maxSeen = command.sequence;
        this.statements.saveMaxSeen.run(String(command.sequence));
      }
    })();
  }

  held(): HeldCommand[] {
    return (this.statements.all.all() as CommandRow[]).map((row) => ({
      id: row.id,
      sequence: Number(row.sequence),
      deviceId: row.device_id,
      name: row.name,
      payload: Buffer.from(row.payload),
      expiresAt: Number(row.expires_at),
      delivered: row.delivered === 1,
    }));
  }

  /** Records the report and the command's new state together. */
  markDelivered(report: DownlinkReport): void {
    this.db.transaction(() => {
      this.statements.delivered.run(report.commandId);
      this.addReport(report);
    })();
  }

  /** The command is done here (acknowledged, failed or expired); a report, if any, goes with it. */
  finish(commandId: string, report?: DownlinkReport): void {
    this.db.transaction(() => {
      this.statements.finish.run(commandId);
      if (report) this.addReport(report);
    })();
  }

  reports(limit: number): StoredReport[] {
    return (
      this.statements.reports.all(limit) as { rowid: number; command_id: string; state: DownlinkReport['state']; at: string; detail: string | null }[]
    ).map((row) => ({ rowid: row.rowid, commandId: row.command_id, state: row.state, at: row.at, ...(row.detail !== null ? { detail: row.detail } : {}) }));
  }

  /** The control plane took the reports up to this one. */
  reportsTaken(throughRowid: number): void {
    this.statements.deleteReports.run(throughRowid);
  }

  close(): void {
    this.db.close();
  }

  private addReport(report: DownlinkReport): void {
    this.statements.addReport.run(report.commandId, report.state, report.at, report.detail ?? null);
  }
}
