/**
 * The downlink's state on the gateway's disk: where the stream resumes (below the lowest command
 * still held, or the highest seen), which commands are new, and that held commands, reports and
 * the cursor survive closing and opening the file again, beside the uplink's own tables.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DownlinkState } from '../../../src/gateway/downlink/downlink-state.js';
import { UplinkQueue } from '../../../src/gateway/uplink/uplink-queue.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-downlink-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const command = (sequence: number) => ({
  id: `cmd_${sequence}`,
  sequence,
  deviceId: 'urn:dev:ops:acme-lamp-0001',
  name: 'light',
  payload: Buffer.from([sequence, 0, 0xff]),
  expiresAt: Date.UTC(2030, 0, 1),
});

test('the stream resumes below the lowest held command, or after the highest seen when none is held', () => {
  const state = new DownlinkState(join(dir, 'resume.db'));
  try {
    assert.equal(state.resumeAfter(), 0, 'a new gateway asks for everything open');
    assert.equal(state.isNew('cmd_3', 3), true);
    for (const sequence of [3, 4, 7]) state.hold(command(sequence));
    assert.equal(state.resumeAfter(), 2);
    assert.equal(state.isNew('cmd_4', 4), false, 'held');
    state.finish('cmd_3', { commandId: 'cmd_3', state: 'acknowledged', at: '2030-01-01T00:00:00.000Z' });
    assert.equal(state.resumeAfter(), 3);
    assert.equal(state.isNew('cmd_3', 3), false, 'finished: at or below the highest seen, and not held');
    assert.equal(state.isNew('cmd_5', 5), false, 'acknowledged or expired at the control plane before it reached this gateway');
    assert.equal(state.isNew('cmd_8', 8), true);
    state.finish('cmd_4');
    state.finish('cmd_7');
    assert.equal(state.resumeAfter(), 7);
  } finally {
    state.close();
  }
});

test("held commands, their delivery, the reports and the cursor survive a restart, in the uplink's file beside its queue", () => {
  const path = join(dir, 'uplink.db');
  const queue = UplinkQueue.open(path, { maxMessages: 10, synchronous: 'full' });
  const state = new DownlinkState(path);
  state.hold(command(9));
  state.hold(command(10));
  state.markDelivered({ commandId: 'cmd_9', state: 'delivered', at: '2030-01-01T00:00:01.000Z' });
  state.finish('cmd_10', { commandId: 'cmd_10', state: 'failed', at: '2030-01-01T00:00:02.000Z', detail: 'jammed' });
  state.close();
  queue.close();
  assert.equal(statSync(path).mode & 0o777, 0o600);

  const reopened = new DownlinkState(path);
  try {
    assert.deepEqual(reopened.held(), [{ ...command(9), delivered: true }]);
    assert.equal(reopened.resumeAfter(), 8);
    assert.equal(reopened.isNew('cmd_10', 10), false);
    const reports = reopened.reports(10);
    assert.deepEqual(
      reports.map(({ rowid: _rowid, ...report }) => report),
      [
        { commandId: 'cmd_9', state: 'delivered', at: '2030-01-01T00:00:01.000Z' },
        { commandId: 'cmd_10', state: 'failed', at: '2030-01-01T00:00:02.000Z', detail: 'jammed' },
      ],
    );
    reopened.reportsTaken(reports[0]?.rowid ?? 0);
    assert.deepEqual(
      reopened.reports(10).map((r) => r.commandId),
      ['cmd_10'],
    );
  } finally {
    reopened.close();
  }
});
