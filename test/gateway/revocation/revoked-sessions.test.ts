/**
 * The revocation fan-out: a revoked certificate's live sessions end with "not authorized", and
 * only those: another certificate of the same device, other devices and sensors stay connected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, type BrokerConnection } from '../../../src/gateway/broker/broker.js';
import type { ClientIdentity } from '../../../src/gateway/listener/client-identity.js';
import { REASON } from '../../../src/gateway/mqtt/mqtt-reason-codes.js';
import { TopicAcl } from '../../../src/gateway/policy/topic-acl.js';
import { closeRevokedSessions } from '../../../src/gateway/revocation/revoked-sessions.js';

const THERMO = 'urn:dev:ops:acme-thermo-0001';
const LOCK = 'urn:dev:ops:acme-lock-0002';
const later = new Date(Date.now() + 3_600_000);

function bed() {
  const broker = new Broker({ acl: new TopicAcl(), maxSessionExpirySeconds: 0, maxQueuedMessages: 10, maxRetainedMessages: 10 });
  const closed: { clientId: string; reason: number; why: string }[] = [];
  const connect = (identity: ClientIdentity, clientId: string): BrokerConnection => {
    const { session } = broker.openSession(identity.deviceId, clientId, true);
    const connection: BrokerConnection = {
      identity,
      session,
      deliver: () => {},
      close: (reason, why) => {
        closed.push({ clientId, reason, why });
        broker.detach(connection);
      },
      keepaliveExpired: () => false,
    };
    broker.attach(connection);
    return connection;
  };
  connect({ kind: 'device', deviceId: THERMO, serial: 'aa01', notAfter: later }, 'thermo-a');
  connect({ kind: 'device', deviceId: THERMO, serial: 'aa01', notAfter: later }, 'thermo-b');
  connect({ kind: 'device', deviceId: THERMO, serial: 'bb02', notAfter: later }, 'thermo-renewed');
  connect({ kind: 'device', deviceId: LOCK, serial: 'cc03', notAfter: later }, 'lock');
  connect({ kind: 'sensor', deviceId: 'sensor:door-1', notAfter: later }, 'door');
  return { broker, closed };
}

test('a pushed revocation (it names the device) closes every session of that certificate, and only those', () => {
  const { broker, closed } = bed();
  const count = closeRevokedSessions(broker, { serial: 'aa01', identifier: THERMO, revokedAt: new Date().toISOString(), notAfter: null });
  assert.equal(count, 2);
  assert.deepEqual(
    closed.map((c) => c.clientId),
    ['thermo-a', 'thermo-b'],
  );
  for (const c of closed) {
    assert.equal(c.reason, REASON.notAuthorized);
    assert.equal(c.why, 'the certificate was revoked');
  }
  assert.equal(broker.connectionCount, 3, 'the renewed certificate, the lock and the sensor stay connected');
});

test('a revocation from a CRL (no device named) finds the certificate among all live connections', () => {
  const { broker, closed } = bed();
  assert.equal(closeRevokedSessions(broker, { serial: 'cc03', identifier: null, revokedAt: new Date().toISOString(), notAfter: null }), 1);
  assert.deepEqual(
    closed.map((c) => c.clientId),
    ['lock'],
  );
});

test('a revoked serial nobody is connected with closes nothing; a device id with another serial is not enough', () => {
  const { broker, closed } = bed();
  assert.equal(closeRevokedSessions(broker, { serial: 'dd04', identifier: null, revokedAt: new Date().toISOString(), notAfter: null }), 0);
  assert.equal(closeRevokedSessions(broker, { serial: 'dd04', identifier: THERMO, revokedAt: new Date().toISOString(), notAfter: null }), 0);
  assert.deepEqual(closed, []);
  assert.equal(broker.connectionCount, 5);
});
