/**
 * An http-01 responder on loopback, as an ACME client's standalone server would be, and a Hearth
 * installation whose validator is pointed at it (the way Pebble lets tests avoid DNS and port 80).
 */
import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import acme from 'acme-client';
import { AcmeWire } from './acme-wire.js';
import { Http01Responder } from '../../src/device/http01-responder.js';
import { initInstallation, startServer, type Installation, type RunningServer } from './hearth-process.js';

export { Http01Responder };

/** `hearth serve` whose challenge validation connects to loopback ports where ACME clients listen. */
export interface LoopbackAcmeServer {
  installation: Installation;
  server: RunningServer;
  /** The installation root, which clients must trust. */
  rootFile: string;
  rootPem: string;
  /** On 127.0.0.1, which the API certificate names, so no client resolves a name. */
  directoryUrl: string;
  stop(): Promise<void>;
}

export async function serveAcmeOnLoopback(ports: { http01: number; tlsAlpn01?: number }): Promise<LoopbackAcmeServer> {
  const installation = await initInstallation();
  installation.env.HEARTH_ACME_HTTP01_PORT = String(ports.http01);
  if (ports.tlsAlpn01 !== undefined) installation.env.HEARTH_ACME_TLS_ALPN01_PORT = String(ports.tlsAlpn01);
  installation.env.HEARTH_ACME_VALIDATION_ADDRESS = '127.0.0.1';
  const server = await startServer(installation);
  const rootFile = join(installation.dir, 'ca/root.pem');
  return {
    installation,
    server,
    rootFile,
    rootPem: readFileSync(rootFile, 'utf8'),
    directoryUrl: `${server.apiUrl.replace('//localhost:', '//127.0.0.1:')}/acme/directory`,
    async stop() {
      await server.stop();
      await installation.cleanup();
    },
  };
}

export interface AcmeTestbed extends LoopbackAcmeServer {
  responder: Http01Responder;
  /** Raw ACME requests to the same server, trusting its root. */
  wire: AcmeWire;
}

/** A Hearth server validating http-01 against the responder; acme-client trusts its root. */
export async function startAcmeTestbed(): Promise<AcmeTestbed> {
  const responder = await Http01Responder.start();
  const hearth = await serveAcmeOnLoopback({ http01: responder.port });
  acme.axios.defaults.httpsAgent = new Agent({ ca: hearth.rootPem });
  return {
    ...hearth,
    responder,
    // The same origin as the directory, so account URLs the wire signs with match acme-client's.
    wire: new AcmeWire(new URL(hearth.directoryUrl).origin, new Agent({ ca: hearth.rootPem })),
    async stop() {
      await hearth.stop();
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

/** Answers each authorization of an order over http-01 through the responder and waits for it to be valid. */
export async function proveOrderOverHttp01(bed: AcmeTestbed, client: acme.Client, order: acme.Order): Promise<void> {
  for (const authz of await client.getAuthorizations(order)) {
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge) throw new Error(`no http-01 challenge for ${authz.identifier.value}`);
    bed.responder.answers.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
    await client.completeChallenge(challenge);
    await client.waitForValidStatus(challenge);
  }
}

/** Orders, proves over http-01 and finalizes a certificate for `names`; returns the chain PEM and the key. */
export async function obtainCertificate(bed: AcmeTestbed, client: acme.Client, names: string[]): Promise<{ chainPem: string; keyPem: string }> {
  const [key, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names });
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
