/**
 * `hearth serve`: assembles the control plane from a data directory and starts its two servers:
 * the HTTPS API (REST, OpenAPI, health, metrics) and the plain-HTTP revocation server (OCSP, CRL,
 * CA certificates). Everything is chosen from config: store, bus, key backend.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Checkpointer } from '../transparency/checkpointer.js';
import { openLogIdentity } from '../transparency/log-key.js';
import { registerTransparencyLogRoutes } from './routes/transparency-log.js';
import { registerAcmeServer } from '../acme/http/acme-server.js';
import type { Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../core/clock.js';
import type { HearthConfig } from '../core/config.js';
import { DataDirLayout } from '../core/data-dir-layout.js';
import type { Logger } from '../core/logger.js';
import { openStore } from '../store/open-store.js';
import { openBus } from '../bus/open-bus.js';
import type { EventBus } from '../bus/bus.js';
import type { Store } from '../store/store.js';
import { NotFoundError, TooManyRequestsError, UnauthorizedError } from '../core/errors.js';
import { databaseUrl, keyProviderFor, publicUrls, readSecret } from '../authority/installation-config.js';
import { startPendingReconciliation } from '../authority/pending-reconciliation.js';
import { Authority } from '../authority/authority.js';
import { loadIssuingCas, loadRootCertificate } from '../authority/ca-material.js';
import { CrlPublisher } from '../authority/crl-publisher.js';
import { RootCrlSource, type RootCrl } from '../authority/root-crl.js';
import { issuingCasRevokedBy, type RevokedIssuingCas } from '../authority/revoked-issuing-cas.js';
import { OcspResponder } from '../authority/ocsp-responder.js';
import { RevocationSweep } from '../authority/revocation-sweep.js';
import { renewOcspDelegate, renewTlsCertificate, renewalDue } from '../authority/certificate-renewal.js';
import { pemDecodeAll, pemEncode } from '../pki/certificate-assembly.js';
import { certificateFacts } from '../pki/certificate-facts.js';
import { authenticateBearer } from '../access/api-tokens.js';
import { ControlPlaneMetrics } from './metrics.js';
import { answerClientError, HSTS, problemFor, sendProblem, UriTooLongError } from '../http/problem.js';
import { requestValidatorCompiler } from './request-validation.js';
import { stapleOcspResponses } from './ocsp-stapling.js';
import { tlsServerPolicy } from '../core/tls-policy.js';
import { registerCertificateRoutes } from './routes/certificates.js';
import { registerRenewalWindowRoutes } from './routes/renewal-windows.js';
import { registerAcmeEabKeyRoutes } from './routes/acme-eab-keys.js';
import { EabKeyDerivation } from '../access/eab-key-derivation.js';
import { registerMetricsRoute, registerOperationalRoutes } from './routes/operational.js';
import { registerRevocationStatusRoutes } from './routes/revocation-status.js';
import { registerProvisioningRoutes } from './routes/provisioning.js';
import { securityEventSink } from '../provisioning/security-events.js';
import { ManufacturerRegistry } from '../provisioning/manufacturer-registry.js';
import { ManifestImporter } from '../provisioning/manifest-import.js';
import { DeviceClaims } from '../provisioning/device-claims.js';
import { DeviceAttestation } from '../provisioning/attestation/device-attestation.js';
import { RevocationFeed } from '../authority/revocation-feed.js';
import { GatewayCertificates } from '../access/gateway-certificate.js';
import { GatewayDevices } from '../access/gateway-devices.js';
import { DeviceCredentials } from '../provisioning/device-credentials.js';
import { registerGatewayRoutes } from './routes/gateways.js';
import { registerRevocationStreamRoutes } from './routes/revocation-stream.js';
import { registerTelemetryRoutes } from './routes/telemetry-ingest.js';
import type { TLSSocket } from 'node:tls';

export interface ControlPlaneOptions {
  dataDir: string;
  config: HearthConfig;
  logger: Logger;
  clock?: Clock;
}

export interface RunningControlPlane {
  apiUrl: string;
  httpUrl: string;
  authority: Authority;
  store: Store;
  bus: EventBus;
  crls: CrlPublisher;
  ocsp: OcspResponder;
  checkpointer: Checkpointer;
  /** The transparency log's note verifier key. */
  logVerifierKey: string;
  close(): Promise<void>;
}

/** Longer URLs are refused (414) before routing: no route of Hearth needs one near this long. */
const MAX_URL_LENGTH = 8192;

function baseApp(logger: Logger, metrics: ControlPlaneMetrics, server: string, options: Record<string, unknown>): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger.child({ server }),
    logController: new LogController({ disableRequestLogging: true }),
    // Fastify's own refusals (a malformed URL, a path parameter over its length) and Node's (a
    // request line or headers it cannot parse) are problem documents like every other error.
    frameworkErrors: (error, request, reply) => sendProblem(reply, problemFor(error, request)),
    clientErrorHandler: answerClientError,
    ...options,
  });
  // Bodies are validated as sent, query strings and parameters with the coercion text needs.
  app.setValidatorCompiler(requestValidatorCompiler);
  if (options.https) {
    // On the raw response before Fastify sees the request, so every answer carries it: errors
    // Fastify makes itself and the revocation stream, which writes its own head, included.
    app.server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => response.setHeader('strict-transport-security', HSTS));
  }
  app.setErrorHandler((error, request, reply) => {
    const problem = problemFor(error, request);
    if (problem.status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    else request.log.info({ url: request.url, status: problem.status, problem: problem.type }, 'request refused');
    if (error instanceof TooManyRequestsError) reply.header('retry-after', String(error.retryAfterSeconds));
    // A request refused before its body was read (authentication runs first) ends its connection:
    // Node would otherwise read and discard the whole body, up to the route's limit, to keep the
    // connection alive for a caller that has just been refused.
    if (!request.raw.complete) reply.header('connection', 'close');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, { type: 'https://hearth.dev/problems/not-found', title: 'Not found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
  app.addHook('onRequest', async (request) => {
    if (request.url.length > MAX_URL_LENGTH) throw new UriTooLongError(`the URL is ${request.url.length} characters; at most ${MAX_URL_LENGTH} are served`);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe({ server, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  return app as unknown as FastifyInstance;
}

const RENEWAL_CHECK_MS = 3_600_000;
/** C2SP practice and the promise: a new checkpoint at most every second while entries arrive. */
const CHECKPOINT_INTERVAL_MS = 1_000;
/** Leaf hashes indexed per second at most: well above what issuance appends. */
const HASH_INDEX_BATCH = 50_000;

/** Writes next to the file and renames over it, so a reader never sees half a certificate. */
async function replaceFile(path: string, content: string): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, content, { mode: 0o600 }); // the data directory is the owner's alone
  await rename(temporary, path);
}

/** Things to undo, last opened first; start-up failing halfway undoes what it opened. */
class Closer {
  private readonly steps: (() => Promise<void> | void)[] = [];
  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }
  async closeAll(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch {
        // Closing goes on: one resource failing to close must not keep the others open.
      }
    }
  }
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<RunningControlPlane> {
  const closer = new Closer();
  try {
    return await assemble(options, closer);
  } catch (err) {
    await closer.closeAll();
    throw err;
  }
}

async function assemble(options: ControlPlaneOptions, closer: Closer): Promise<RunningControlPlane> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const layout = new DataDirLayout(options.dataDir);
  const metrics = new ControlPlaneMetrics();

  const keys = keyProviderFor(config, layout);
  const cas = await loadIssuingCas(layout, keys);
  closer.add(async () => {
    for (const ca of cas.values()) {
      await ca.signer.close?.();
      await ca.ocsp.signer.close?.();
    }
  });
  const root = await loadRootCertificate(layout);
  const store = await openStore({ url: databaseUrl(config, layout), ...(config.database.schema ? { schema: config.database.schema } : {}) });
  closer.add(() => store.close());
  // Installations sharing one NATS server keep to their own stream and subjects, named after
  // their root key, so one fleet's revocations never reach another's responders.
  const installationId = Buffer.from(root.keyIdentifier).toString('hex').slice(0, 16).toUpperCase();
  const bus = await openBus({
    url: config.bus.url,
    stream: `HEARTH_${installationId}`,
    subjectPrefix: `hearth.${installationId.toLowerCase()}.events`,
    onError: (err) => logger.error({ err }, 'bus handler failed'),
  });
  closer.add(() => bus.close());

  const raise = securityEventSink(
    store,
    bus,
    clock,
    (err, context) => logger.error({ err }, context),
    (event) => logger.warn(event, 'security event'),
  );
  const crls = new CrlPublisher(store, cas, clock, config.crl.validitySeconds);
  const ocsp = new OcspResponder(store, cas, clock, config.ocsp.validitySeconds, (outcome) => metrics.ocsp.inc({ outcome }));
  const storeReachable = async () => {
    try {
      await store.getCertificate('00');
      return undefined;
    } catch {
      return 'store unreachable';
    }
  };

  const tlsKey = await readFile(layout.privateKey('tls'), 'utf8');
  // The TLS key is always an encrypted file (Node's TLS cannot use a PKCS#11 key).
  const passphrase = readSecret(config.keys.passphrase, layout);
  const logIdentity = await openLogIdentity(layout, passphrase);
  closer.add(() => logIdentity.close());
  const checkpointer = new Checkpointer(store, logIdentity.signer, clock);
  const eab = await EabKeyDerivation.fromSecretFile(layout.eabSecret);
  if (eab.created) logger.warn({ path: layout.eabSecret }, 'made the secret EAB keys are derived from; every control-plane process of this installation needs a copy of it');
  const eabKeys = eab.keys;

  // Ports may be 0 (tests): the HTTP server starts first so its real port goes into the URLs
  // the authority embeds in certificates.
  const http = baseApp(logger, metrics, 'http', { bodyLimit: config.server.bodyLimit });
  closer.add(() => http.close());
  const caCertificates = new Map<string, Uint8Array>([['root', root.der], ...[...cas.values()].map((c) => [c.name, c.certificate.der] as [string, Uint8Array])]);
  const rootCrl = new RootCrlSource(layout, root);
  registerRevocationStatusRoutes(http, { crls, rootCrl, ocsp, caCertificates, crlMaxAgeSeconds: config.crl.refreshSeconds });
  registerOperationalRoutes(http, storeReachable);
  await http.listen({ host: config.server.host, port: config.server.httpPort });
  const httpPort = (http.server.address() as AddressInfo).port;

  const urls = publicUrls(config, httpPort);
  const authority = new Authority(store, bus, cas, clock, urls, {
    reportError: (err, context) => logger.error({ err }, context),
    draftWorkers: config.issuance.draftWorkers ?? availableParallelism(),
    onBlockedKey: (refusal) => void raise('security.blocked_key', refusal.profile === 'device' ? refusal.identifier : null, refusal),
  });
  closer.add(() => authority.close());
  const sweep = new RevocationSweep(store, clock, async (revocations) => {
    logger.warn({ serials: revocations.map((r) => r.serial) }, 'revocations reached this process by the store sweep, not the bus');
    for (const { serial } of revocations) ocsp.invalidate(serial);
    for (const ca of new Set(revocations.map((r) => r.ca))) if (cas.has(ca)) await crls.regenerate(ca);
  });
  const feed = new RevocationFeed(store, clock);
  authority.onRevoked((record) => {
    feed.announce({ serial: record.serial, ca: record.ca, identifier: record.identifier, revokedAt: (record.revokedAt ?? clock.now()).toISOString(), notAfter: record.notAfter.toISOString() });
    sweep.markSeen(record.serial, record.revokedAt ?? clock.now());
    ocsp.invalidate(record.serial);
    // Not awaited: the bus event to the other processes goes out without waiting for a CRL
    // signature, and GET /crl joins the regeneration already queued.
    crls.regenerate(record.ca).catch((err) => logger.error({ err, ca: record.ca }, 'CRL regeneration after a revocation failed'));
  });
  // Revocations made by other processes arrive on the bus; they must reach this process's
  // OCSP cache and CRL too.
  const subscription = await bus.subscribe('cert.revoked', async (event) => {
    if (event.data.origin === authority.origin) return; // handled by the listener above
    const serial = String(event.data.serial ?? '');
    const ca = String(event.data.ca ?? '');
    feed.announce({ serial, ca, identifier: typeof event.data.identifier === 'string' ? event.data.identifier : null, revokedAt: String(event.data.revokedAt ?? event.occurredAt), notAfter: typeof event.data.notAfter === 'string' ? event.data.notAfter : null });
    sweep.markSeen(serial, new Date(String(event.data.revokedAt ?? event.occurredAt)));
    ocsp.invalidate(serial);
    if (cas.has(ca)) await crls.regenerate(ca);
  });
  closer.add(() => subscription.unsubscribe());
  await crls.regenerateAll();
  closer.add(await startPendingReconciliation(store, clock, logger));

  // Short-lived certificates of the control plane itself (OCSP delegates 30 days, TLS 90 days)
  // are renewed by the online issuing CAs once two thirds of their life has passed.
  let tlsCert = await readFile(layout.tlsCertificate, 'utf8');
  // The new certificate is used at once; writing it to the data directory (for the next start)
  // is best effort, so a read-only or full disk cannot stop a renewal from taking effect.
  const keepOnDisk = (path: string, pem: string, what: string) =>
    replaceFile(path, pem).catch((err) => logger.error({ err, path }, `could not save the renewed ${what}; it is in use but will be renewed again after a restart`));
  const renewOwnCertificates = async (): Promise<boolean> => {
    for (const ca of cas.values()) {
      if (!renewalDue(ca.ocsp.certificate, clock.now())) continue;
      try {
        const renewed = await renewOcspDelegate(authority, ca);
        ca.ocsp.certificate = renewed;
        logger.info({ ca: ca.name, serial: renewed.serialHex, notAfter: renewed.notAfter }, 'renewed OCSP responder certificate');
        await keepOnDisk(layout.ocspCertificate(ca.name), pemEncode('CERTIFICATE', renewed.der), 'OCSP responder certificate');
      } catch (err) {
        logger.error({ err, ca: ca.name }, 'renewing the OCSP responder certificate failed');
      }
    }
    const [tlsDer] = pemDecodeAll(tlsCert, 'CERTIFICATE');
    if (!tlsDer || !renewalDue(certificateFacts(tlsDer), clock.now())) return false;
    try {
      const renewed = await renewTlsCertificate(authority, certificateFacts(tlsDer));
      tlsCert = [renewed.der, ...renewed.chain.slice(0, -1)].map((der) => pemEncode('CERTIFICATE', der)).join('');
      logger.info({ serial: renewed.record.serial, notAfter: renewed.record.notAfter }, 'renewed the control plane TLS certificate');
      await keepOnDisk(layout.tlsCertificate, tlsCert, 'TLS certificate');
      return true;
    } catch (err) {
      logger.error({ err }, 'renewing the control plane TLS certificate failed');
      return false;
    }
  };
  // An issuing CA the root CRL revokes issues nothing more; the CRL is read again as it changes.
  let revokedCas: RevokedIssuingCas = new Map();
  const checkRevokedCas = async () => {
    let crl: RootCrl | undefined;
    try {
      crl = await rootCrl.current();
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        logger.error({ err }, 'reading the root CRL failed');
        return;
      }
    }
    const revoked = issuingCasRevokedBy(crl, cas);
    for (const [name, entry] of revoked) {
      if (!revokedCas.has(name)) logger.error({ ca: name, serial: entry.serial }, 'the root CRL revokes this issuing CA: nothing more is issued from it until it is replaced');
    }
    revokedCas = revoked;
    authority.setRevokedIssuingCas(revoked);
  };
  await checkRevokedCas();
  await renewOwnCertificates();
  const refresh = setInterval(() => {
    crls.regenerateAll().catch((err) => logger.error({ err }, 'scheduled CRL regeneration failed'));
  }, config.crl.refreshSeconds * 1000);
  refresh.unref();
  closer.add(() => clearInterval(refresh));
  const sweeping = setInterval(() => {
    sweep.sweep().catch((err) => logger.error({ err }, 'revocation sweep failed'));
  }, config.revocation.sweepSeconds * 1000);
  sweeping.unref();
  closer.add(() => clearInterval(sweeping));
  const rootCrlChecking = setInterval(() => void checkRevokedCas(), config.revocation.sweepSeconds * 1000);
  rootCrlChecking.unref();
  closer.add(() => clearInterval(rootCrlChecking));

  // A checkpoint for the log as it stands at start, then at most one a second while it grows.
  await checkpointer.refresh({ force: true });
  let indexing = false;
  const checkpointing = setInterval(() => {
    checkpointer.refresh().catch((err) => logger.error({ err }, 'signing a log checkpoint failed'));
    // Leaf hashes join their lookup index behind the appends, a second's worth at a time.
    if (indexing) return;
    indexing = true;
    store
      .indexLogHashes(HASH_INDEX_BATCH)
      .catch((err) => logger.error({ err }, 'indexing log leaf hashes failed'))
      .finally(() => {
        indexing = false;
      });
  }, CHECKPOINT_INTERVAL_MS);
  checkpointing.unref();
  closer.add(() => clearInterval(checkpointing));

  // Gateways authenticate with their services-CA certificate; every other client sends none and
  // is not refused for it (bearer tokens, ACME JWS).
  const servicesCa = cas.get('services');
  if (!servicesCa) throw new Error('the services issuing CA is missing from the data directory');
  const gatewayClientAuth = { requestCert: true, rejectUnauthorized: false, ca: [pemEncode('CERTIFICATE', root.der), pemEncode('CERTIFICATE', servicesCa.certificate.der)] };
  const api = baseApp(logger, metrics, 'api', {
    bodyLimit: config.server.bodyLimit,
    https: { key: tlsKey, passphrase, cert: tlsCert, ...tlsServerPolicy('TLSv1.2'), ...gatewayClientAuth },
  });
  closer.add(() => api.close());
  stapleOcspResponses(api.server as unknown as HttpsServer, ocsp, () => ({ nameDer: servicesCa.certificate.subjectNameDer, publicKeyBits: servicesCa.certificate.publicKeyBits }), logger);
  await api.register(swagger, {
    openapi: {
      info: { title: 'Hearth control plane', version: '0.1.0', description: 'Private CA for smart-home device fleets' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  const authenticate = (request: FastifyRequest) => authenticateBearer(store, request.headers.authorization);
  const gateways = new GatewayCertificates(servicesCa.certificate.der, store, clock);
  const authenticateGatewayOrToken = async (request: FastifyRequest) => (await gateways.authenticate(request.raw.socket as TLSSocket)) ?? authenticate(request);
  const attestation = new DeviceAttestation(store, clock, raise, (detail, message) => logger.warn(detail, message));
  const deviceCredentials = new DeviceCredentials(store, clock, raise, authority);
  const manufacturers = new ManufacturerRegistry(store, clock);
  manufacturers.onRootsChanged(() => attestation.rootsChanged());
  registerProvisioningRoutes(api, { store, manufacturers, manifests: new ManifestImporter(store, clock, raise), claims: new DeviceClaims(store, clock, raise), deviceCredentials, authenticate });
  registerGatewayRoutes(api, { store, clock, authority, eabKeys, authenticate });
  registerCertificateRoutes(api, { store, authority, metrics, authenticate });
  registerRenewalWindowRoutes(api, { store, clock, authenticate });
  registerAcmeEabKeyRoutes(api, { store, clock, eabKeys, policies: Object.keys(config.acme.policies), authenticate });
  registerOperationalRoutes(api, storeReachable);
  registerMetricsRoute(api, metrics, authenticate);
  registerRevocationStreamRoutes(api, {
    feed,
    crlUrl: urls.crl,
    caCertificatePem: (ca) => pemEncode('CERTIFICATE', (caCertificates.get(ca) as Uint8Array)),
    authenticate: authenticateGatewayOrToken,
  });
  registerTelemetryRoutes(api, {
    store,
    clock,
    gatewayDevices: new GatewayDevices(store, clock, raise),
    authenticateGateway: async (request) => {
      const gateway = await gateways.authenticate(request.raw.socket as TLSSocket);
      if (!gateway) throw new UnauthorizedError("ingest takes a registered gateway's certificate (gateway profile) from the services CA");
      return gateway;
    },
    authenticate,
  });
  registerTransparencyLogRoutes(api, { store, checkpointer, verifierKey: logIdentity.verifierKey });
  await registerAcmeServer(api, {
    store,
    clock,
    authority,
    bodyLimit: config.server.bodyLimit,
    http01: { port: config.acme.http01Port, ...(config.acme.validationAddress ? { address: config.acme.validationAddress } : {}) },
    tlsAlpn01: { port: config.acme.tlsAlpn01Port, ...(config.acme.validationAddress ? { address: config.acme.validationAddress } : {}) },
    alwaysValid: config.acme.alwaysValid,
    orderLifetimeMs: config.acme.orderLifetimeSeconds * 1000,
    externalAccountRequired: config.acme.externalAccountRequired,
    eabKeys,
    policies: config.acme.policies,
    defaultPolicy: config.acme.defaultPolicy,
    rateLimits: config.acme.rateLimits,
    attestation,
    deviceCredentials,
  });
  if (config.acme.alwaysValid) logger.warn('acme.alwaysValid is on: ACME challenges pass without validation; this server is for load tests only');
  api.get('/openapi.json', { schema: { hide: true } }, async () => api.swagger());
  await api.listen({ host: config.server.host, port: config.server.apiPort });
  const apiPort = (api.server.address() as AddressInfo).port;
  const renewal = setInterval(() => {
    renewOwnCertificates()
      .then((tlsRenewed) => {
        if (tlsRenewed) (api.server as unknown as HttpsServer).setSecureContext({ key: tlsKey, passphrase, cert: tlsCert, ...tlsServerPolicy('TLSv1.2'), ...gatewayClientAuth });
      })
      .catch((err) => logger.error({ err }, 'renewing the control plane certificates failed'));
  }, RENEWAL_CHECK_MS);
  renewal.unref();
  closer.add(() => clearInterval(renewal));

  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return {
    apiUrl: `https://${config.server.publicHost === 'localhost' ? 'localhost' : host}:${apiPort}`,
    httpUrl: `http://${host}:${httpPort}`,
    authority,
    store,
    bus,
    crls,
    ocsp,
    checkpointer,
    logVerifierKey: logIdentity.verifierKey,
    close: () => closer.closeAll(),
  };
}
