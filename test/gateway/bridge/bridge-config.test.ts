/** The bridge section of gateway.yaml: defaults, and a precise error for each thing it refuses. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/core/errors.js';
import { bridgeConfigSchema, filtersOverlap, parseBridgeConfig, upstreamFilter } from '../../../src/gateway/bridge/bridge-config.js';

const URL_ = 'mqtt://broker.home.arpa';
const EXPORT = [{ filter: 'hearth/+/state' }];

/** The messages of every issue, as `path: message`. */
function problems(raw: unknown): string[] {
  const result = bridgeConfigSchema.safeParse(raw);
  if (result.success) return [];
  return result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

function assertRefused(raw: unknown, path: string, pattern: RegExp): void {
  const found = problems(raw);
  assert.ok(
    found.some((p) => p.startsWith(`${path}: `) && pattern.test(p)),
    `expected a problem at "${path}" matching ${pattern}, got: ${JSON.stringify(found)}`,
  );
}

describe('bridge configuration defaults', () => {
  test('a url and one rule are enough; everything else has a default', () => {
    const config = parseBridgeConfig({ url: URL_, export: EXPORT, import: [{ filter: 'homeassistant/#' }] });
    assert.equal(config.clientId, 'hearth-bridge');
    assert.equal(config.protocolVersion, 5);
    assert.equal(config.keepaliveSeconds, 60);
    assert.equal(config.maxBufferedMessages, 10_000);
    assert.equal(config.username, undefined);
    assert.equal(config.passwordFile, undefined);
    assert.deepEqual(config.export, [{ filter: 'hearth/+/state', qos: 1 }]);
    assert.deepEqual(config.import, [{ filter: 'homeassistant/#', localPrefix: 'bridge/', qos: 1 }]);
  });

  test('every setting can be given', () => {
    const config = parseBridgeConfig({
      url: 'mqtts://broker.home.arpa:8884',
      clientId: 'hearth-kitchen',
      username: 'hearth',
      passwordFile: '/etc/hearth/bridge-password',
      caFile: '/etc/hearth/upstream-ca.pem',
      protocolVersion: 4,
      keepaliveSeconds: 30,
      export: [{ filter: 'hearth/#', prefix: 'hearth-home/', qos: 0, retain: true }],
      import: [{ filter: 'zigbee2mqtt/+/set', localPrefix: 'upstream/z2m/', qos: 0 }],
      maxBufferedMessages: 50,
    });
    assert.equal(config.protocolVersion, 4);
    assert.deepEqual(config.export[0], { filter: 'hearth/#', prefix: 'hearth-home/', qos: 0, retain: true });
    assert.deepEqual(config.import[0], { filter: 'zigbee2mqtt/+/set', localPrefix: 'upstream/z2m/', qos: 0 });
    assert.equal(upstreamFilter(config.export[0]), 'hearth-home/hearth/#');
  });
});

describe('bridge configuration errors', () => {
  test('the url must be a plain mqtt:// or mqtts:// URL', () => {
    assertRefused({ url: 'http://broker', export: EXPORT }, 'url', /mqtt:\/\/ or mqtts:\/\/, not http:\/\//);
    assertRefused({ url: 'ws://broker:9001', export: EXPORT }, 'url', /not ws:\/\//);
    assertRefused({ url: 'broker.home.arpa:1883', export: EXPORT }, 'url', /mqtt:\/\/ or mqtts:\/\//);
    assertRefused({ url: 'not a url', export: EXPORT }, 'url', /not a URL/);
    assertRefused({ url: 'mqtt://hearth:secret@broker', export: EXPORT }, 'url', /may not hold credentials: use username and passwordFile/);
    assertRefused({ url: 'mqtt://broker/topic', export: EXPORT }, 'url', /may not have a path/);
    assertRefused({ url: 'mqtt://broker?x=1', export: EXPORT }, 'url', /query/);
    assertRefused({ export: EXPORT }, 'url', /./);
  });

  test('a password is never inline, and needs a username', () => {
    assertRefused(
      { url: URL_, export: EXPORT, username: 'u', password: 'secret' },
      '',
      /the password is never inline: put it in a file and name the file in passwordFile/,
    );
    assertRefused({ url: URL_, export: EXPORT, passwordFile: '/etc/pw' }, 'passwordFile', /a password needs a username/);
    assert.doesNotThrow(() => parseBridgeConfig({ url: URL_, export: EXPORT, username: 'u', passwordFile: '/etc/pw' }));
  });

  test('caFile only with mqtts://', () => {
    assertRefused({ url: URL_, export: EXPORT, caFile: '/etc/ca.pem' }, 'caFile', /for an mqtts:\/\/ URL only/);
    assert.doesNotThrow(() => parseBridgeConfig({ url: 'mqtts://broker', export: EXPORT, caFile: '/etc/ca.pem' }));
  });

  test('filters are checked by the topic-filter rules', () => {
    assertRefused({ url: URL_, export: [{ filter: 'hearth/#/state' }] }, 'export.0.filter', /not a topic filter: # must be the whole last level/);
    assertRefused({ url: URL_, export: [{ filter: 'hearth/lamp+' }] }, 'export.0.filter', /not a topic filter: \+ must be a whole level/);
    assertRefused({ url: URL_, export: [{ filter: '' }] }, 'export.0.filter', /not a topic filter: the topic filter is empty/);
    assertRefused({ url: URL_, import: [{ filter: 'a/b' }, { filter: 'ha/#x' }] }, 'import.1.filter', /# must be the whole last level/);
    assertRefused({ url: URL_, import: [{ filter: '$share/group/ha/#' }] }, 'import.0.filter', /shared subscriptions/);
  });

  test('prefixes are topic-name text ending in "/"', () => {
    assertRefused({ url: URL_, export: [{ filter: 'a/#', prefix: 'hearth-home' }] }, 'export.0.prefix', /must end with "\/"/);
    assertRefused({ url: URL_, export: [{ filter: 'a/#', prefix: 'home/+/' }] }, 'export.0.prefix', /a prefix may not hold the wildcards/);
    assertRefused({ url: URL_, export: [{ filter: 'a/#', prefix: '' }] }, 'export.0.prefix', /the prefix is empty/);
    assertRefused({ url: URL_, export: [{ filter: 'a/#', prefix: '$SYS/' }] }, 'export.0.prefix', /may not start with "\$"/);
    assertRefused({ url: URL_, import: [{ filter: 'a/#', localPrefix: 'up' }] }, 'import.0.localPrefix', /must end with "\/"/);
    assertRefused({ url: URL_, import: [{ filter: 'a/#', localPrefix: 'up/#/' }] }, 'import.0.localPrefix', /wildcards/);
  });

  test('an import may not land in the hearth/ device trees', () => {
    for (const localPrefix of ['hearth/', 'hearth/urn:dev:ops:acme-lamp-0001/cmd/', 'hearth/x/']) {
      assertRefused(
        { url: URL_, import: [{ filter: 'ha/#', localPrefix }] },
        'import.0.localPrefix',
        /may not land in the device trees \(hearth\/…\): an upstream broker must not be able to command devices/,
      );
    }
    // Only the first level counts, and only when it is exactly `hearth`.
    for (const localPrefix of ['hearthx/', 'bridge/hearth/', 'Hearth/']) {
      assert.doesNotThrow(() => parseBridgeConfig({ url: URL_, import: [{ filter: 'ha/#', localPrefix }] }), localPrefix);
    }
  });

  test('qos, protocol version and numbers are bounded', () => {
    assertRefused({ url: URL_, export: [{ filter: 'a', qos: 2 }] }, 'export.0.qos', /qos must be 0 or 1/);
    assertRefused({ url: URL_, import: [{ filter: 'a', qos: 2 }] }, 'import.0.qos', /qos must be 0 or 1/);
    assertRefused({ url: URL_, export: EXPORT, protocolVersion: 3 }, 'protocolVersion', /must be 5 \(MQTT 5\) or 4 \(MQTT 3.1.1\)/);
    assertRefused({ url: URL_, export: EXPORT, keepaliveSeconds: 70_000 }, 'keepaliveSeconds', /./);
    assertRefused({ url: URL_, export: EXPORT, maxBufferedMessages: 0 }, 'maxBufferedMessages', /./);
    assertRefused({ url: URL_, export: EXPORT, clientId: 'has space' }, 'clientId', /printable ASCII/);
    assertRefused({ url: URL_, export: EXPORT, clientId: '' }, 'clientId', /printable ASCII/);
  });

  test('unknown keys, no rules at all and overlapping imports are refused', () => {
    assertRefused({ url: URL_, export: EXPORT, exports: [] }, '', /exports/);
    assertRefused({ url: URL_, export: [{ filter: 'a', prefx: 'x/' }] }, 'export.0', /prefx/);
    assertRefused({ url: URL_ }, '', /the bridge exchanges nothing/);
    assertRefused(
      { url: URL_, import: [{ filter: 'ha/#' }, { filter: 'ha/+/state', localPrefix: 'other/' }] },
      'import.1.filter',
      /overlaps import 0 \(ha\/#\)/,
    );
    assert.doesNotThrow(() => parseBridgeConfig({ url: URL_, import: [{ filter: 'ha/+/state' }, { filter: 'ha/+/set' }] }));
  });

  test('parseBridgeConfig throws a ConfigError naming every problem by its path', () => {
    assert.throws(
      () => parseBridgeConfig({ url: 'http://x', export: [{ filter: 'a/#/b', qos: 2 }] }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^invalid bridge configuration: /);
        assert.match(err.message, /bridge\.url: the URL must be mqtt:\/\/ or mqtts:\/\//);
        assert.match(err.message, /bridge\.export\.0\.filter: not a topic filter/);
        assert.match(err.message, /bridge\.export\.0\.qos: qos must be 0 or 1/);
        return true;
      },
    );
  });
});

describe('filtersOverlap', () => {
  test('says whether some topic matches both filters', () => {
    const overlapping: [string, string][] = [
      ['a/#', 'a'],
      ['a/#', 'a/b/c'],
      ['#', 'x/y'],
      ['a/+/c', 'a/b/+'],
      ['+/+', 'a/b'],
      ['a/b', 'a/b'],
    ];
    const disjoint: [string, string][] = [
      ['a/+', 'a'],
      ['a/b', 'a/c'],
      ['a/+/c', 'a/b/d'],
      ['+', 'a/b'],
      ['a/b/#', 'a/c/#'],
    ];
    for (const [x, y] of overlapping) {
      assert.equal(filtersOverlap(x, y), true, `${x} ~ ${y}`);
      assert.equal(filtersOverlap(y, x), true, `${y} ~ ${x}`);
    }
    for (const [x, y] of disjoint) {
      assert.equal(filtersOverlap(x, y), false, `${x} !~ ${y}`);
      assert.equal(filtersOverlap(y, x), false, `${y} !~ ${x}`);
    }
  });
});
