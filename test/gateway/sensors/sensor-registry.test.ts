/** The sensor registry on disk: pairing, re-pairing, unpairing, owner-only atomic writes, strict loading. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ManualClock } from '../../../src/core/clock.js';
import { BadRequestError, ConflictError } from '../../../src/core/errors.js';
import { SensorStateFileError } from '../../../src/gateway/sensors/owner-only-file.js';
import { sensorMqttIdentity } from '../../../src/gateway/sensors/sensor-id.js';
import { SensorRegistry } from '../../../src/gateway/sensors/sensor-registry.js';

const work = mkdtempSync(join(tmpdir(), 'hearth-sensor-registry-'));
after(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const freshPath = () => join(work, `case-${++counter}`, 'sensors.json');
const clock = () => new ManualClock(new Date('2031-02-03T04:05:06.000Z'));

function writeRegistryFile(path: string, contents: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, typeof contents === 'string' ? contents : JSON.stringify(contents), { mode: 0o600 });
}

const validKey = Buffer.alloc(32, 7).toString('base64url');

describe('SensorRegistry', () => {
  test('a registry opened where no file exists is empty and creates no file', async () => {
    const path = freshPath();
    const registry = await SensorRegistry.open(path);
    assert.equal(registry.size, 0);
    assert.deepEqual(registry.list(), []);
    assert.equal(registry.get('thermo-1'), undefined);
    assert.throws(() => statSync(path), { code: 'ENOENT' });
  });

  test('pairing returns a fresh 32-byte key, stored owner-only and reloaded unchanged', async () => {
    const path = freshPath();
    const registry = await SensorRegistry.open(path, { clock: clock() });
    const key = await registry.pair('thermo-1');
    const other = await registry.pair('door.2');
    assert.equal(key.length, 32);
    assert.notDeepEqual(key, other);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(registry.get('thermo-1'), { sensorId: 'thermo-1', key, pairedAt: new Date('2031-02-03T04:05:06.000Z') });

    const reopened = await SensorRegistry.open(path);
    assert.deepEqual(reopened.get('thermo-1')?.key, key);
    assert.deepEqual(reopened.get('door.2')?.key, other);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { sensors: Array<{ key: string }> };
    assert.deepEqual(file.sensors.map((sensor) => sensor.key).sort(), [key.toString('base64url'), other.toString('base64url')].sort());
  });

  test('list names the sensors in order, without their keys', async () => {
    const registry = await SensorRegistry.open(freshPath(), { clock: clock() });
    await registry.pair('b-sensor');
    await registry.pair('a-sensor');
    const listing = registry.list();
    assert.deepEqual(
      listing.map((entry) => entry.sensorId),
      ['a-sensor', 'b-sensor'],
    );
    for (const entry of listing) assert.deepEqual(Object.keys(entry).sort(), ['pairedAt', 'sensorId']);
  });

  test('pairing a paired sensor again is refused unless replace is given, which issues a new key', async () => {
    const path = freshPath();
    const registry = await SensorRegistry.open(path);
    const first = await registry.pair('thermo-1');
    await assert.rejects(
      registry.pair('thermo-1'),
      (error: unknown) => error instanceof ConflictError && error.status === 409 && /already paired/.test(error.message),
    );
    assert.deepEqual(registry.get('thermo-1')?.key, first);
    const second = await registry.pair('thermo-1', { replace: true });
    assert.notDeepEqual(second, first);
    assert.deepEqual((await SensorRegistry.open(path)).get('thermo-1')?.key, second);
  });

  test('concurrent pairings of one id: exactly one wins; of different ids: all are kept', async () => {
    const path = freshPath();
    const registry = await SensorRegistry.open(path);
    const results = await Promise.allSettled([registry.pair('same'), registry.pair('same'), registry.pair('same')]);
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
    await Promise.all(Array.from({ length: 10 }, (_, index) => registry.pair(`sensor-${index}`)));
    const reopened = await SensorRegistry.open(path);
    assert.equal(reopened.size, 11);
  });

  test('unpairing removes the sensor durably and says whether it was paired', async () => {
    const path = freshPath();
    const registry = await SensorRegistry.open(path);
    await registry.pair('thermo-1');
    assert.equal(await registry.unpair('thermo-1'), true);
    assert.equal(await registry.unpair('thermo-1'), false);
    assert.equal(registry.get('thermo-1'), undefined);
    assert.equal((await SensorRegistry.open(path)).get('thermo-1'), undefined);
  });

  test('only safe sensor ids can be paired', async () => {
    const registry = await SensorRegistry.open(freshPath());
    for (const bad of ['', 'Thermo', 'a/b', 'a+b', 'a#', 'sensor:1', '.hidden', '-dash', '_under', 'a b', 'a\nb', 'x'.repeat(65), 'é']) {
      await assert.rejects(registry.pair(bad), BadRequestError, JSON.stringify(bad));
    }
    assert.equal(registry.size, 0);
    await registry.pair('x'.repeat(64));
    await registry.pair('0');
    assert.equal(sensorMqttIdentity('0'), 'sensor:0');
    assert.throws(() => sensorMqttIdentity('a/b'), TypeError);
  });

  test('the key handed out is a copy: changing it changes nothing stored', async () => {
    const registry = await SensorRegistry.open(freshPath());
    const key = await registry.pair('thermo-1');
    const copy = Buffer.from(key);
    key.fill(0);
    registry.get('thermo-1')?.key.fill(0);
    assert.deepEqual(registry.get('thermo-1')?.key, copy);
  });

  test('writes leave no temporary files behind', async () => {
    const path = freshPath();
    const registry = await SensorRegistry.open(path);
    for (let index = 0; index < 5; index++) await registry.pair(`s${index}`);
    await registry.unpair('s0');
    assert.deepEqual(readdirSync(dirname(path)), ['sensors.json']);
  });

  test('a failed write changes nothing in memory', async () => {
    const path = freshPath();
    const registry = await SensorRegistry.open(path);
    await registry.pair('kept');
    rmSync(dirname(path), { recursive: true });
    writeFileSync(dirname(path), 'a file where the directory was');
    await assert.rejects(registry.pair('lost'), SensorStateFileError);
    await assert.rejects(registry.unpair('kept'), SensorStateFileError);
    assert.equal(registry.get('lost'), undefined);
    assert.ok(registry.get('kept'));
  });

  test('a file readable by others is refused, naming the file and the fix', async () => {
    const path = freshPath();
    writeRegistryFile(path, { version: 1, sensors: [] });
    chmodSync(path, 0o644);
    await assert.rejects(
      SensorRegistry.open(path),
      (error: unknown) => error instanceof SensorStateFileError && error.message.includes(path) && /chmod 600/.test(error.message),
    );
  });

  test('a corrupt file is refused with an error naming the file and the problem, never quoting keys', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [`{"version":1,"sensors":[{"sensorId":"a","key":"${validKey}"`, /not JSON/],
      [{ version: 2, sensors: [] }, /version/],
      [{ version: 1 }, /sensors/],
      [{ version: 1, sensors: [{ sensorId: 'A', key: validKey, pairedAt: '2031-01-01T00:00:00.000Z' }] }, /sensors\.0\.sensorId/],
      [{ version: 1, sensors: [{ sensorId: 'a', key: validKey.slice(1), pairedAt: '2031-01-01T00:00:00.000Z' }] }, /sensors\.0\.key/],
      [{ version: 1, sensors: [{ sensorId: 'a', key: validKey.slice(0, 42) + 'F', pairedAt: '2031-01-01T00:00:00.000Z' }] }, /canonical/],
      [{ version: 1, sensors: [{ sensorId: 'a', key: validKey, pairedAt: 'yesterday' }] }, /sensors\.0\.pairedAt/],
      [{ version: 1, sensors: [{ sensorId: 'a', key: validKey, pairedAt: '2031-01-01T00:00:00.000Z', extra: 1 }] }, /sensors\.0/],
      [
        {
          version: 1,
          sensors: [
            { sensorId: 'a', key: validKey, pairedAt: '2031-01-01T00:00:00.000Z' },
            { sensorId: 'a', key: validKey, pairedAt: '2031-01-01T00:00:00.000Z' },
          ],
        },
        /duplicate sensor id "a"/,
      ],
    ];
    for (const [contents, expected] of cases) {
      const path = freshPath();
      writeRegistryFile(path, contents);
      await assert.rejects(
        SensorRegistry.open(path),
        (error: unknown) =>
          error instanceof SensorStateFileError &&
          error.message.startsWith(path) &&
          expected.test(error.message) &&
          !error.message.includes(validKey.slice(0, 20)),
        `${JSON.stringify(contents)} should fail with ${expected}`,
      );
    }
  });
});
