/**
 * Broker.accept, the one way a client's PUBLISH enters the broker: the topic ACL first, then the
 * publisher's screen, then routing (subscribers, then the rules and the bridge through `routed`),
 * then the sink; a QoS 1 message the sink keeps holds its acknowledgement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QoS } from 'mqtt-packet';
import { Broker, type BrokerConnection, type MessageSink } from '../../../src/gateway/broker/broker.js';
import { ALREADY_ROUTED, HELD, ROUTED, type Acceptance, type Publisher } from '../../../src/gateway/broker/publish-acceptance.js';
import type { ClientIdentity } from '../../../src/gateway/listener/client-identity.js';
import { REASON } from '../../../src/gateway/mqtt/mqtt-reason-codes.js';
import type { BrokerMessage } from '../../../src/gateway/mqtt/mqtt-session.js';
import { TopicAcl } from '../../../src/gateway/policy/topic-acl.js';

const PUBLISHER = 'urn:dev:ops:acme-thermo-0001';
const SUBSCRIBER = 'urn:dev:ops:acme-thermo-0002';
const identity = (deviceId: string): ClientIdentity => ({ kind: 'device', deviceId, serial: '01', notAfter: new Date(Date.now() + 3_600_000) });

function bed(options: { sinkAccepts?: boolean; screen?: Acceptance } = {}) {
  const steps: string[] = [];
  const kept: { message: BrokerMessage; done: ((err: Error | null) => void) | undefined }[] = [];
  const sink: MessageSink = {
    accepts: (message) => {
      steps.push(`sink.accepts ${message.topic}`);
      return options.sinkAccepts ?? false;
    },
    keep: (message, done) => {
      steps.push(`sink.keep ${message.topic}`);
      kept.push({ message, done });
    },
  };
  const broker = new Broker({
    acl: new TopicAcl(),
    sink,
    maxSessionExpirySeconds: 60,
    maxQueuedMessages: 10,
    maxRetainedMessages: 10,
    routed: (message) => steps.push(`routed ${message.topic}`),
    observer: {
      denied: (who, info) => steps.push(`denied ${info.action} ${info.topic}`),
      published: (who, message) => steps.push(`published ${message.topic}`),
    },
  });
  // A subscriber to the publisher's tree (a device may subscribe only to its own commands; the bed subscribes directly).
  const { session } = broker.openSession(SUBSCRIBER, 'sub', true);
  const subscriber: BrokerConnection = {
    identity: identity(SUBSCRIBER),
    session,
    deliver: (message: BrokerMessage, qos: QoS) => steps.push(`deliver ${message.topic} qos${qos}`),
    close: () => {},
    keepaliveExpired: () => false,
  };
  broker.attach(subscriber);
  broker.subscribe(session, `hearth/${PUBLISHER}/#`, { qos: 1, noLocal: false, retainAsPublished: false });
  const held: { packetId: number; qos: number }[] = [];
  const publisher: Publisher = {
    identity: identity(PUBLISHER),
    screen: (message, packetId) => {
      steps.push(`screen ${message.topic} #${packetId}`);
      return options.screen ?? ROUTED;
    },
    holdAcknowledgement: (packetId, qos) => {
      steps.push(`hold #${packetId}`);
      held.push({ packetId, qos });
      return () => {};
    },
  };
  return { broker, publisher, steps, kept, held };
}

const message = (topic: string, qos: QoS = 1): BrokerMessage => ({ topic, payload: Buffer.from('21.5'), qos, retain: false, from: PUBLISHER });

test('ACL, then screen, then routing to subscribers, rules and bridge, then the sink', () => {
  const { broker, publisher, steps } = bed();
  const topic = `hearth/${PUBLISHER}/temp`;
  assert.equal(broker.accept(publisher, message(topic), 7), ROUTED);
  assert.deepEqual(steps, [`screen ${topic} #7`, `deliver ${topic} qos1`, `routed ${topic}`, `published ${topic}`, `sink.accepts ${topic}`]);
});

test('a publish the ACL refuses is reported and goes no further: no screen, no routing, no sink', () => {
  const { broker, publisher, steps } = bed({ sinkAccepts: true });
  const topic = `hearth/${SUBSCRIBER}/temp`;
  assert.equal(broker.accept(publisher, message(topic), 1), REASON.notAuthorized);
  assert.deepEqual(steps, [`denied publish ${topic}`]);
});

test("the screen's refusal (a sensor's replay window) is the answer, and nothing is routed or kept", () => {
  const { broker, publisher, steps } = bed({ sinkAccepts: true, screen: REASON.payloadFormatInvalid });
  const topic = `hearth/${PUBLISHER}/temp`;
  assert.equal(broker.accept(publisher, message(topic), 3), REASON.payloadFormatInvalid);
  assert.deepEqual(steps, [`screen ${topic} #3`]);
});

test('a QoS 2 resend the screen recognises is not routed again', () => {
  const { broker, publisher, steps } = bed({ sinkAccepts: true, screen: ALREADY_ROUTED });
  const topic = `hearth/${PUBLISHER}/temp`;
  assert.equal(broker.accept(publisher, message(topic, 2), 9), ALREADY_ROUTED);
  assert.deepEqual(steps, [`screen ${topic} #9`]);
});

test('QoS 1 kept by the sink: the acknowledgement is held (before keep is asked) and the answer is HELD', () => {
  const { broker, publisher, steps, kept, held } = bed({ sinkAccepts: true });
  const topic = `hearth/${PUBLISHER}/temp`;
  assert.equal(broker.accept(publisher, message(topic), 12), HELD);
  assert.deepEqual(steps.slice(-3), [`sink.accepts ${topic}`, `hold #12`, `sink.keep ${topic}`]);
  assert.deepEqual(held, [{ packetId: 12, qos: 1 }]);
  assert.equal(typeof kept[0]?.done, 'function', 'the sink calls back when the message is kept');
});

test('QoS 0 kept by the sink: nothing to hold, acknowledged as routed', () => {
  const { broker, publisher, kept, held } = bed({ sinkAccepts: true });
  assert.equal(broker.accept(publisher, message(`hearth/${PUBLISHER}/temp`, 0), 0), ROUTED);
  assert.equal(kept.length, 1);
  assert.equal(kept[0]?.done, undefined);
  assert.deepEqual(held, []);
});

test('authorize: a will or subscription the ACL refuses is reported; one it allows is not', () => {
  const { broker, publisher, steps } = bed();
  assert.equal(broker.authorize(publisher.identity, 'will', `hearth/${PUBLISHER}/status`), true);
  assert.equal(broker.authorize(publisher.identity, 'subscribe', `hearth/${PUBLISHER}/cmd/#`), true);
  assert.equal(broker.authorize(publisher.identity, 'will', `hearth/${SUBSCRIBER}/status`), false);
  assert.equal(broker.authorize(publisher.identity, 'subscribe', `hearth/${PUBLISHER}/temp`), false);
  assert.deepEqual(steps, [`denied will hearth/${SUBSCRIBER}/status`, `denied subscribe hearth/${PUBLISHER}/temp`]);
});
