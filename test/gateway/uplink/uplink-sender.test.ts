/**
 * UplinkSender against a real HTTPS server that demands a client certificate, all made by the
 * openssl binary: batches leave the queue only on 200, a 400 batch is split to find and discard
 * the refused messages, outages are retried with backoff (and reported once), and the batch
 * byte cap. The sender's backoff starts at 250–500 ms and is not configurable, so outage tests
 * stay at one or two failures.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UplinkQueue, type QueuedMessage, type UplinkMessage } from '../../../src/gateway/uplink/uplink-queue.js';
import { UplinkSender, type UplinkSenderOptions } from '../../../src/gateway/uplink/uplink-sender.js';
import { needsOpenssl } from '../../support/environment.js';
import { CA_AND_SERVER_SECTIONS } from '../../support/openssl-extensions.js';

const skip = await needsOpenssl();
const dir = mkdtempSync(join(tmpdir(), 'hearth-uplink-sender-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EXTENSIONS = `${CA_AND_SERVER_SECTIONS}[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`;

interface Pki {
  caPem: string;
  server: { key: string; cert: string };
  /** Two gateway certificates, CN gateway-1 and gateway-2 (a renewal). */
  clients: [{ key: string; cert: string }, { key: string; cert: string }];
}

/** A CA, a server certificate for 127.0.0.1 and two client certificates, by openssl. */
function makePki(): Pki {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(join(dir, 'ext.cnf'), EXTENSIONS);
  const newKey = (name: string) => run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
  newKey('ca');
  run([
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=Uplink Test CA',
    '-days',
    '2',
    '-sha256',
    '-config',
    'ext.cnf',
    '-extensions',
    'ca',
    '-out',
    'ca.pem',
  ]);
  const issue = (name: string, cn: string, section: string, serial: string) => {
    newKey(name);
    run(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-config', 'ext.cnf', '-out', `${name}.csr`]);
    run([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      serial,
      '-days',
      '2',
      '-sha256',
      '-extfile',
      'ext.cnf',
      '-extensions',
      section,
      '-out',
      `${name}.pem`,
    ]);
    return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.pem`), 'utf8') };
  };
  return {
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    server: issue('server', 'control-plane', 'server', '0x10'),
    clients: [issue('gateway1', 'gateway-1', 'client', '0x11'), issue('gateway2', 'gateway-2', 'client', '0x12')],
  };
}

interface WireMessage {
  id: string;
  deviceId: string;
  topic: string;
  payload: string;
  qos: number;
  publishedAt: string;
}

interface Received {
  method: string | undefined;
  url: string | undefined;
  contentType: string | undefined;
  peer: string;
  at: number;
  messages: WireMessage[];
}

type Answer = { status: number; body: unknown };
type Handler = (messages: WireMessage[], request: Received) => Answer | Promise<Answer>;

/** POST /api/v1/ingest with mutual TLS; remembers every request, and the ids it stored once. */
class IngestServer {
  readonly requests: Received[] = [];
  readonly stored: string[] = [];
  handler: Handler = (messages) => this.store(messages);
  private server: Server | undefined;
  port = 0;

  constructor(private readonly pki: Pki) {}

  /** Answers 200 with stored/duplicates as the control plane does. */
  store(messages: WireMessage[]): Answer {
    let stored = 0;
    for (const m of messages) {
      if (this.stored.includes(m.id)) continue;
      this.stored.push(m.id);
      stored++;
    }
    return { status: 200, body: { received: messages.length, stored, duplicates: messages.length - stored } };
  }

  async listen(port = 0): Promise<void> {
    const server = createHttpsServer(
      { key: this.pki.server.key, cert: this.pki.server.cert, ca: this.pki.caPem, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messages: WireMessage[] };
          const received: Received = {
            method: req.method,
            url: req.url,
            contentType: req.headers['content-type'],
            peer: String((req.socket as TLSSocket).getPeerCertificate().subject.CN),
            at: Date.now(),
            messages: parsed.messages,
          };
          this.requests.push(received);
          void Promise.resolve(this.handler(parsed.messages, received)).then((answer) => {
            const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
            res.writeHead(answer.status, { 'content-type': answer.status === 200 ? 'application/json' : 'application/problem+json' });
            res.end(body);
          });
        });
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }
}

/** Polls a condition; fails with `what` if it does not hold within the time. */
async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function enqueued(queue: UplinkQueue, m: Omit<UplinkMessage, 'id'>): Promise<void> {
  return new Promise((resolve, reject) => queue.enqueue(m, (err) => (err ? reject(err) : resolve())));
}

function message(n: number, overrides: Partial<Omit<UplinkMessage, 'id'>> = {}): Omit<UplinkMessage, 'id'> {
  return {
    deviceId: `urn:dev:ops:acme-lamp-${n % 2}`,
    topic: `home/lamp/${n}`,
    payload: Buffer.from([0x00, n & 0xff, 0xff]),
    qos: 1,
    publishedAt: Date.UTC(2030, 0, 1, 0, 0, 0, n),
    ...overrides,
  };
}

describe('UplinkSender', { skip }, () => {
  let pki: Pki;
  let files = 0;
  /** `loopMayDie`: a test of a known bug whose sender loop may have rejected; stop() then rethrows that. */
  const running: { sender: UplinkSender; queue: UplinkQueue; server: IngestServer; loopMayDie?: boolean }[] = [];

  before(() => {
    pki = makePki();
  });

  /** A queue, a server (listening unless told not to) and a sender on them, all torn down after each test. */
  async function bed(options: Partial<UplinkSenderOptions> & { listen?: boolean } = {}) {
    const queue = UplinkQueue.open(join(dir, `queue-${++files}.db`), { maxMessages: 100_000, synchronous: 'normal' });
    const server = new IngestServer(pki);
    if (options.listen !== false) await server.listen();
    const sent: [number, number][] = [];
    const rejected: { message: QueuedMessage; detail: string }[] = [];
    const states: { reachable: boolean; detail: string; lastError: string | undefined }[] = [];
    const sender = new UplinkSender({
      controlPlaneUrl: server.url,
      rootPem: pki.caPem,
      credentials: () => pki.clients[0],
      queue,
      batchSize: 100,
      onSent: (count, stored) => sent.push([count, stored]),
      onRejected: (m, detail) => rejected.push({ message: m, detail }),
      onStateChange: (reachable, detail) => states.push({ reachable, detail, lastError: sender.lastError }),
      ...options,
    });
    running.push({ sender, queue, server });
    return { queue, server, sender, sent, rejected, states };
  }

  async function teardown() {
    for (const { sender, queue, server, loopMayDie } of running.splice(0)) {
      await sender.stop().catch((err: unknown) => {
        if (!loopMayDie) throw err;
      });
      await server.close();
      queue.close();
    }
  }

  test('batches go out oldest first, batchSize at a time, with the gateway certificate, and leave the queue on 200', async (t) => {
    t.after(teardown);
    const { queue, server, sender, sent, states } = await bed({ batchSize: 3 });
    await Promise.all(Array.from({ length: 7 }, (_, i) => enqueued(queue, message(i))));
    const queued = queue.peek(10);
    sender.start();
    await until('the queue is empty', () => queue.depth === 0);

    assert.deepEqual(
      server.requests.map((r) => r.messages.length),
      [3, 3, 1],
    );
    assert.deepEqual(
      server.requests.flatMap((r) => r.messages.map((m) => m.id)),
      queued.map((m) => m.id),
    );
    assert.deepEqual(server.requests[0]?.messages[1], {
      id: queued[1]?.id,
      deviceId: 'urn:dev:ops:acme-lamp-1',
      topic: 'home/lamp/1',
      payload: Buffer.from([0x00, 0x01, 0xff]).toString('base64'),
      qos: 1,
      publishedAt: '2030-01-01T00:00:00.001Z',
    });
    for (const r of server.requests) {
      assert.equal(r.method, 'POST');
      assert.equal(r.url, '/api/v1/ingest');
      assert.equal(r.contentType, 'application/json');
      assert.equal(r.peer, 'gateway-1');
    }
    assert.deepEqual(sent, [
      [3, 3],
      [3, 3],
      [1, 1],
    ]);
    assert.deepEqual(states, [], 'no state change while all goes well');
    assert.equal(sender.reachable, true);
    assert.equal(sender.lastError, undefined);

    // Idle now; new messages wake it (it would otherwise wait forever).
    await Promise.all([enqueued(queue, message(7)), enqueued(queue, message(8))]);
    await until('the new messages are sent', () => queue.depth === 0);
    assert.deepEqual(
      server.requests.map((r) => r.messages.length),
      [3, 3, 1, 2],
    );
    assert.deepEqual(server.stored.length, 9);
  });

  test('a batch that is not acknowledged (the answer is lost) is sent again, and the duplicate count comes back in onSent', async (t) => {
    t.after(teardown);
    const { queue, server, sender, sent } = await bed();
    let first = true;
    server.handler = (messages) => {
      const answer = server.store(messages); // stored, but the gateway does not hear it
      if (!first) return answer;
      first = false;
      return { status: 200, body: 'not json' };
    };
    await Promise.all([0, 1].map((i) => enqueued(queue, message(i))));
    sender.start();
    await until('the queue is empty', () => queue.depth === 0);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(
      server.requests[1]?.messages.map((m) => m.id),
      server.requests[0]?.messages.map((m) => m.id),
    );
    assert.deepEqual(sent, [[2, 0]]);
    assert.equal(server.stored.length, 2);
  });

  test('a 400 batch is sent one message at a time: the refused ones are discarded (onRejected), the others delivered', async (t) => {
    t.after(teardown);
    const { queue, server, sender, sent, rejected, states } = await bed();
    server.handler = (messages) => {
      const bad = messages.findIndex((m) => m.topic.startsWith('bad/'));
      if (bad >= 0) return { status: 400, body: { type: 'about:blank', title: 'Bad Request', status: 400, detail: `messages[${bad}].topic is refused` } };
      return server.store(messages);
    };
    const topics = ['good/1', 'bad/1', 'good/2', 'bad/2', 'good/3'];
    await Promise.all(topics.map((topic, i) => enqueued(queue, message(i, { topic }))));
    const queued = queue.peek(10);
    sender.start();
    await until('the queue is empty', () => queue.depth === 0);

    assert.deepEqual(
      server.requests.map((r) => r.messages.map((m) => m.topic)),
      [topics, ...topics.map((topic) => [topic])],
    );
    assert.deepEqual(server.stored, [queued[0]?.id, queued[2]?.id, queued[4]?.id]);
    assert.deepEqual(
      rejected.map((r) => [r.message.id, r.message.topic, r.detail]),
      [
        [queued[1]?.id, 'bad/1', 'ingest answered 400: messages[0].topic is refused'],
        [queued[3]?.id, 'bad/2', 'ingest answered 400: messages[0].topic is refused'],
      ],
    );
    assert.deepEqual(sent, [
      [1, 1],
      [1, 1],
      [1, 1],
    ]);
    assert.deepEqual(states, [], 'a refused message is not an outage');
    assert.equal(sender.reachable, true);

    // Afterwards batches are whole again.
    await Promise.all([5, 6].map((i) => enqueued(queue, message(i))));
    await until('the next batch is sent', () => queue.depth === 0);
    assert.deepEqual(
      server.requests.at(-1)?.messages.map((m) => m.topic),
      ['home/lamp/5', 'home/lamp/6'],
    );
  });

  test('a 400 that is not problem+json is reported with its raw text', async (t) => {
    t.after(teardown);
    const { queue, server, sender, rejected } = await bed();
    server.handler = () => ({ status: 400, body: 'plain refusal' });
    await enqueued(queue, message(0));
    sender.start();
    await until('the message is discarded', () => queue.depth === 0);
    assert.deepEqual(
      rejected.map((r) => r.detail),
      ['ingest answered 400: plain refusal'],
    );
    assert.equal(server.requests.length, 2, 'the batch of one, then the same one alone');
  });

  test('503: the sender backs off, reports the outage once, does not retry per new message, and recovers', async (t) => {
    t.after(teardown);
    const states: { reachable: boolean; detail: string; lastError: string | undefined }[] = [];
    let reachableDuringOutage: boolean | undefined;
    let queuedDuringOutage: Promise<void> | undefined;
    const { queue, server, sender, sent } = await bed({
      // onStateChange(false) comes right before the first backoff: a message queued then must not
      // end that wait.
      onStateChange: (reachable, detail) => {
        states.push({ reachable, detail, lastError: sender.lastError });
        if (!reachable) {
          reachableDuringOutage = sender.reachable;
          queuedDuringOutage = enqueued(queue, message(1));
        }
      },
    });
    let refusals = 2;
    server.handler = (messages) => (refusals-- > 0 ? { status: 503, body: { detail: 'down for maintenance' } } : server.store(messages));
    await enqueued(queue, message(0));
    sender.start();
    await until('the outage is reported', () => queuedDuringOutage !== undefined);
    await queuedDuringOutage;
    await until('the queue is empty', () => queue.depth === 0);

    assert.equal(reachableDuringOutage, false);
    assert.deepEqual(states, [
      { reachable: false, detail: 'ingest answered 503: down for maintenance', lastError: 'ingest answered 503: down for maintenance' },
      { reachable: true, detail: 'the control plane takes the uplink again', lastError: undefined },
    ]);
    const [r1, r2, r3] = server.requests;
    assert.equal(server.requests.length, 3);
    assert.ok(r1 && r2 && r3);
    assert.ok(r2.at - r1.at >= 245, `first backoff at least 250 ms, was ${r2.at - r1.at}`);
    assert.ok(r3.at - r2.at >= 495, `second backoff at least 500 ms, was ${r3.at - r2.at}`);
    assert.deepEqual(r1.messages.length, 1);
    assert.deepEqual(r3.messages.length, 2, 'the message queued during the outage went with the retry');
    assert.deepEqual(sent, [[2, 2]]);
    assert.equal(sender.reachable, true);
    assert.equal(sender.lastError, undefined);
  });

  test('connection refused: unreachable with the socket error, then delivered once the control plane listens', async (t) => {
    t.after(teardown);
    // A port nobody listens on, for now.
    const probe = createTcpServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    const { queue, server, sender, states } = await bed({ listen: false, controlPlaneUrl: `https://127.0.0.1:${port}` });
    await Promise.all([0, 1, 2].map((i) => enqueued(queue, message(i))));
    sender.start();
    await until('the sender reports the outage', () => states.length === 1);
    assert.equal(states[0]?.reachable, false);
    assert.match(states[0]?.detail ?? '', /ECONNREFUSED/);
    assert.equal(sender.reachable, false);
    assert.match(sender.lastError ?? '', /ECONNREFUSED/);
    assert.equal(queue.depth, 3, 'nothing leaves the queue during the outage');

    await server.listen(port);
    await until('the queue is empty', () => queue.depth === 0);
    assert.equal(server.stored.length, 3);
    assert.deepEqual(
      states.map((s) => s.reachable),
      [false, true],
    );
    assert.equal(sender.reachable, true);
    assert.equal(sender.lastError, undefined);
  });

  test('batchBytes caps a batch by payload and topic bytes; one message above the cap still goes alone', async (t) => {
    t.after(teardown);
    const { queue, server, sender } = await bed({ batchSize: 100, batchBytes: 100 });
    // 40 bytes of payload + 6 of topic = 46: two fit in 100, three do not.
    for (let i = 0; i < 5; i++) await enqueued(queue, message(i, { topic: `t/x/${i}/`, payload: Buffer.alloc(40, i) }));
    await enqueued(queue, message(5, { topic: 't/big/', payload: Buffer.alloc(500, 0xff) }));
    await enqueued(queue, message(6, { topic: 't/x/6/', payload: Buffer.alloc(40, 6) }));
    await enqueued(queue, message(7, { topic: 't/x/7/', payload: Buffer.alloc(54, 7) })); // 46 + 60 > 100
    await enqueued(queue, message(8, { topic: 't/x/8/', payload: Buffer.alloc(48, 8) })); // 60 + 54 > 100
    await enqueued(queue, message(9, { topic: 't/x/9/', payload: Buffer.alloc(40, 9) })); // 54 + 46 = 100: fits
    sender.start();
    await until('the queue is empty', () => queue.depth === 0);
    assert.deepEqual(
      server.requests.map((r) => r.messages.map((m) => m.topic)),
      [['t/x/0/', 't/x/1/'], ['t/x/2/', 't/x/3/'], ['t/x/4/'], ['t/big/'], ['t/x/6/'], ['t/x/7/'], ['t/x/8/', 't/x/9/']],
    );
    assert.equal(Buffer.from(server.requests[3]?.messages[0]?.payload ?? '', 'base64').length, 500);
  });

  test('a renewed gateway certificate is used from the next request on', async (t) => {
    t.after(teardown);
    let current = pki.clients[0];
    const { queue, server, sender } = await bed({ credentials: () => current });
    sender.start();
    await enqueued(queue, message(0));
    await until('the first message is sent', () => queue.depth === 0);
    current = pki.clients[1];
    await enqueued(queue, message(1));
    await until('the second message is sent', () => queue.depth === 0);
    assert.deepEqual(
      server.requests.map((r) => r.peer),
      ['gateway-1', 'gateway-2'],
    );
  });

  test('stop() ends the wait for messages and a backoff at once; unsent messages stay queued', async (t) => {
    t.after(teardown);
    const idle = await bed();
    idle.sender.start();
    await enqueued(idle.queue, message(0));
    await until('the message is sent', () => idle.queue.depth === 0);
    let started = Date.now();
    await idle.sender.stop();
    assert.ok(Date.now() - started < 200, 'stopping an idle sender is immediate');

    const failing = await bed();
    failing.server.handler = () => ({ status: 503, body: { detail: 'no' } });
    await enqueued(failing.queue, message(0));
    failing.sender.start();
    await until('the first failure', () => failing.states.length === 1);
    started = Date.now();
    await failing.sender.stop();
    assert.ok(Date.now() - started < 200, `stopping during a backoff of at least 250 ms took ${Date.now() - started} ms`);
    assert.equal(failing.server.requests.length, 1);
    assert.equal(failing.queue.depth, 1, 'the unsent message stays queued');
  });

  // Failures in the middle of splitting a refused batch, recovery seen through a refusal, and stop() during a backoff.

  test('a 503 while a 400 batch is being split is retried with backoff, and the sender keeps running', async (t) => {
    t.after(teardown);
    const { queue, server, sender, rejected } = await bed();
    (running.at(-1) ?? assert.fail()).loopMayDie = true;
    let singles = 0;
    server.handler = (messages) => {
      if (messages.length > 1) return { status: 400, body: { detail: 'one of them is bad' } };
      if (singles++ === 0) return { status: 503, body: { detail: 'restarting' } };
      if (messages[0]?.topic === 'bad') return { status: 400, body: { detail: 'bad' } };
      return server.store(messages);
    };
    await Promise.all(['good', 'bad'].map((topic, i) => enqueued(queue, message(i, { topic }))));
    sender.start();
    // A loop that dies rejects this promise; observed here, or it would be an unhandled
    // rejection that takes the whole file down. stop() awaits the same promise.
    let died: Error | undefined;
    (sender as unknown as { loop: Promise<void> }).loop.catch((err: Error) => (died = err));
    await until('the queue is empty or the sender died', () => queue.depth === 0 || died !== undefined);
    assert.equal(died, undefined, `the sender loop died: ${died?.message}`);
    assert.equal(server.stored.length, 1);
    assert.deepEqual(
      rejected.map((r) => r.message.topic),
      ['bad'],
    );
  });

  test('after an outage, a recovery whose first answer is a 400 still marks the control plane reachable', async (t) => {
    t.after(teardown);
    const { queue, server, sender, states } = await bed();
    let outage = true;
    server.handler = (messages) => {
      if (outage) {
        outage = false;
        return { status: 503, body: { detail: 'down' } };
      }
      if (messages.some((m) => m.topic === 'bad')) return { status: 400, body: { detail: 'bad' } };
      return server.store(messages);
    };
    await Promise.all(['good', 'bad'].map((topic, i) => enqueued(queue, message(i, { topic }))));
    sender.start();
    await until('the queue is empty', () => queue.depth === 0);
    assert.equal(server.stored.length, 1);
    assert.equal(sender.reachable, true);
    assert.equal(sender.lastError, undefined);
    assert.deepEqual(
      states.map((s) => s.reachable),
      [false, true],
    );
  });

  test('stop() during a request that then fails does not wait out the backoff', async (t) => {
    t.after(teardown);
    const { queue, server, sender } = await bed();
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    server.handler = async () => {
      await held;
      return { status: 503, body: { detail: 'slow, then down' } };
    };
    await enqueued(queue, message(0));
    sender.start();
    await until('the request is in flight', () => server.requests.length === 1);
    const stopped = sender.stop();
    release?.();
    const started = Date.now();
    await stopped;
    assert.ok(Date.now() - started < 200, `stop() took ${Date.now() - started} ms; the first backoff is 250-500 ms`);
    assert.equal(server.requests.length, 1);
  });
});
