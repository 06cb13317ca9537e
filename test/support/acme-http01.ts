/**
 * An http-01 responder on loopback, as an ACME client's standalone server would be, and a Hearth
 * installation whose validator is pointed at it (the way Pebble lets tests avoid DNS and port 80).
 */
import { createServer, type Server } from 'node:http';
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import acme from 'acme-client';
import { initInstallation, startServer, type Installation, type RunningServer } from './hearth-process.js';

export class Http01Responder {
  /** token → key authorization the responder serves. */
  readonly answers = new Map<string, string>();
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => {
      const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
      const answer = token ? this.answers.get(token) : undefined;
      res.writeHead(answer ? 200 : 404, { 'content-type': 'text/plain' }).end(answer ?? 'not found');
    });
  }

  static async start(): Promise<Http01Responder> {
    const responder = new Http01Responder();
    await new Promise<void>((resolve) => responder.server.listen(0, '127.0.0.1', resolve));
    return responder;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface AcmeTestbed {
  installation: Installation;
  server: RunningServer;
  responder: Http01Responder;
  rootPem: string;
  directoryUrl: string;
  stop(): Promise<void>;
}

/** A Hearth server validating http-01 against the responder; acme-client trusts its root. */
export async function startAcmeTestbed(): Promise<AcmeTestbed> {
  const responder = await Http01Responder.start();
  const installation = await initInstallation();
  installation.env.HEARTH_ACME_HTTP01_PORT = String(responder.port);
  installation.env.HEARTH_ACME_VALIDATION_ADDRESS = '127.0.0.1';
  const server = await startServer(installation);
  const rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
  acme.axios.defaults.httpsAgent = new Agent({ ca: rootPem });
  return {
    installation,
    server,
    responder,
    rootPem,
    directoryUrl: `${server.apiUrl}/acme/directory`,
    async stop() {
      await server.stop();
      await installation.cleanup();
      await responder.close();
    },
  };
}

/** An account on the testbed with a fresh ECDSA key. */
export async function acmeAccount(bed: AcmeTestbed): Promise<acme.Client> {
  const client = new acme.Client({ directoryUrl: bed.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey() });
  await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] });
  return client;
}

/** Orders, proves over http-01 and finalizes a certificate for `names`; returns the chain PEM and the key. */
export async function obtainCertificate(bed: AcmeTestbed, client: acme.Client, names: string[]): Promise<{ chainPem: string; keyPem: string }> {
  const [key, csr] = await acme.crypto.createCsr({ commonName: names[0] as string, altNames: names });
  const chainPem = await client.auto({
    csr,
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // The client's own pre-check would resolve the test name in DNS; Hearth's validator is configured to connect to loopback.
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      bed.responder.answers.set(challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      bed.responder.answers.delete(challenge.token);
    },
  });
  return { chainPem, keyPem: key.toString() };
}
