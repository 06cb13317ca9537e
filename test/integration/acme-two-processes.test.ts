/**
 * Two `hearth serve` processes on one PostgreSQL schema behind one address, as a load balancer
 * would put them: a TCP proxy hands each new connection to the other process in turn, and
 * acme-client opens a connection per request, so one client's account, nonces, orders,
 * challenges, finalize and download alternate between the processes. Nothing may depend on
 * which process answered before.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import acme from 'acme-client';
import { Http01Responder } from '../support/acme-http01.js';
import { POSTGRES_URL, dropPostgresSchemas, needsPostgres } from '../support/environment.js';
import { initInstallation, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

const skip = await needsPostgres();

/** Round-robin TCP proxy: connection n goes to backend n mod k. */
class AlternatingProxy {
  readonly served: number[];
  private next = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(private readonly backends: number[]) {
    this.served = backends.map(() => 0);
    this.server = createServer((client) => {
      const index = this.next++ % this.backends.length;
      this.served[index] = (this.served[index] ?? 0) + 1;
      const upstream = connect(this.backends[index] as number, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('one ACME client served alternately by two processes on one PostgreSQL', { skip }, () => {
  const schema = `hearth_acme2_${randomBytes(6).toString('hex')}`;
  let installation: Installation;
  let servers: RunningServer[] = [];
  let responder: Http01Responder;
  let proxy: AlternatingProxy;
  let directoryUrl: string;
  let rootPem: string;

  before(async () => {
    responder = await Http01Responder.start();
    installation = await initInstallation(['--database-url', POSTGRES_URL, '--database-schema', schema]);
    installation.env.HEARTH_ACME_HTTP01_PORT = String(responder.port);
    installation.env.HEARTH_ACME_VALIDATION_ADDRESS = '127.0.0.1';
    servers = await Promise.all([startServer(installation), startServer(installation)]);
    proxy = new AlternatingProxy(servers.map((s) => Number(new URL(s.apiUrl).port)));
    directoryUrl = `https://127.0.0.1:${await proxy.listen()}/acme/directory`;
    rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
    // No keep-alive: every request is a new connection, so consecutive requests change process.
    acme.axios.defaults.httpsAgent = new Agent({ ca: rootPem, keepAlive: false });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all(servers.map((s) => s.stop()));
    await installation?.cleanup();
    await responder?.close();
    await dropPostgresSchemas([schema]);
  });

  test('account, nonces, order, challenge, finalize, download and revocation survive every switch', async () => {
    const client = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey() });
    await client.createAccount({ termsOfServiceAgreed: true });
    const chains: string[] = [];
    for (const name of ['one.alt.hearth.test', 'two.alt.hearth.test']) {
      const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] });
      chains.push(
        await client.auto({
          csr,
          challengePriority: ['http-01'],
          skipChallengeVerification: true,
          challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
            responder.answers.set(challenge.token, keyAuthorization);
          },
          challengeRemoveFn: async (_authz, challenge) => {
            responder.answers.delete(challenge.token);
          },
        }),
      );
    }
    const root = new X509Certificate(rootPem);
    for (const chain of chains) {
      const [leaf, issuer] = (chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
      assert.ok(leaf && issuer && leaf.verify(issuer.publicKey) && issuer.verify(root.publicKey));
    }
    await client.revokeCertificate(chains[0] as string, { reason: 4 });
    await assert.rejects(client.revokeCertificate(chains[0] as string), /already revoked/);
    // Each process answered a fair share: the switching really happened.
    assert.ok(
      proxy.served.every((n) => n >= 5),
      `connections per process: ${proxy.served.join(', ')}`,
    );
  });
});
