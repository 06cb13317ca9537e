/**
 * The HTTPS API: REST, the ACME server, the transparency log, the revocation stream and ingest
 * for gateways, OpenAPI, health and metrics. Callers authenticate with a bearer token, a JWS
 * (ACME) or, for gateways, a certificate of the services CA sent in the handshake; a homeowner
 * signed in on the /account/ pages with a passkey calls the API with the session cookie (and, for a
 * request that changes something, the CSRF header from its own origin). A new part of Hearth adds
 * its routes here, with one line.
 */
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFile } from 'node:fs/promises';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Closer } from '../core/closer.js';
import { UnauthorizedError } from '../core/errors.js';
import { tlsServerPolicy } from '../core/tls-policy.js';
import { pemEncode } from '../pki/certificate-assembly.js';
import { authenticateBearer } from '../access/api-tokens.js';
import { AccountInvitations } from '../access/account-invitations.js';
import { AccountPasskeys } from '../access/account-passkeys.js';
import { cookieValue, HomeownerSessions, SESSION_COOKIE } from '../access/homeowner-sessions.js';
import { Homes } from '../access/homes.js';
import { PasskeyCeremonies } from '../access/passkey-ceremonies.js';
import { RecoveryCodes } from '../access/recovery-codes.js';
import { checkOrigin, isUnsafeMethod } from '../access/request-origin.js';
import type { Principal } from '../access/principal.js';
import { isDeviceId } from '../pki/device-id.js';
import { ApiRateLimits } from '../api/api-rate-limits.js';
import { publishRouteAccess, type Gate } from '../api/route-access.js';
import { registerOauth } from './oauth-server.js';
import { refusalRecorder } from './refusal-recorder.js';
import { registerAccountRoutes } from '../api/routes/account.js';
import { registerApiTokenRoutes } from '../api/routes/api-tokens.js';
import { registerHomeRoutes } from '../api/routes/homes.js';
import { registerGrantRoutes } from '../api/routes/grants.js';
import { registerIntegrationRoutes } from '../api/routes/integrations.js';
import { GatewayCertificates } from '../access/gateway-certificate.js';
import { GatewayDevices } from '../access/gateway-devices.js';
import { CommandNotifier } from '../commands/command-notifier.js';
import { DeviceCommands } from '../commands/device-commands.js';
import { DeviceAttestation } from '../provisioning/attestation/device-attestation.js';
import { DeviceClaims } from '../provisioning/device-claims.js';
import { DeviceCredentials } from '../provisioning/device-credentials.js';
import { ManifestImporter } from '../provisioning/manifest-import.js';
import { ManufacturerRegistry } from '../provisioning/manufacturer-registry.js';
import { registerAcmeServer } from '../acme/http/acme-server.js';
import { stapleOcspResponses } from '../api/ocsp-stapling.js';
import { serverApp } from '../api/server-app.js';
import { registerAcmeEabKeyRoutes } from '../api/routes/acme-eab-keys.js';
import { registerCertificateRoutes } from '../api/routes/certificates.js';
import { registerDeviceCommandRoutes } from '../api/routes/device-commands.js';
import { registerGatewayDownlinkRoutes } from '../api/routes/gateway-downlink.js';
import { registerGatewayRoutes } from '../api/routes/gateways.js';
import { registerMetricsRoute, registerOperationalRoutes, storeReachability } from '../api/routes/operational.js';
import { registerProvisioningRoutes } from '../api/routes/provisioning.js';
import { registerRenewalWindowRoutes } from '../api/routes/renewal-windows.js';
import { registerRevocationStreamRoutes } from '../api/routes/revocation-stream.js';
import { registerTelemetryRoutes } from '../api/routes/telemetry-ingest.js';
import { registerTransparencyLogRoutes } from '../api/routes/transparency-log.js';
import type { Foundations } from './foundations.js';
import type { RevocationServer } from './revocation-server.js';
import type { TrustServices } from './trust-services.js';

export interface ApiServer {
  port: number;
  /** New handshakes use the renewed certificate chain; live connections go on. */
  useTlsCertificate(chainPem: string): void;
}

export async function startApiServer(f: Foundations, services: TrustServices, revocationServer: RevocationServer, closer: Closer): Promise<ApiServer> {
  const { config, store, clock } = f;
  // Gateways authenticate with their services-CA certificate; every other client sends none and
  // is not refused for it (bearer tokens, ACME JWS).
  const servicesCa = f.cas.get('services');
  if (!servicesCa) throw new Error('the services issuing CA is missing from the data directory');
  const tlsKey = await readFile(f.layout.privateKey('tls'), 'utf8');
  const tlsOptions = (cert: string) => ({
    key: tlsKey,
    passphrase: f.passphrase,
    cert,
    ...tlsServerPolicy('TLSv1.2'),
    requestCert: true,
    rejectUnauthorized: false,
    ca: [pemEncode('CERTIFICATE', f.root.der), pemEncode('CERTIFICATE', servicesCa.certificate.der)],
  });
  const api = serverApp(
    f.logger,
    f.metrics,
    'api',
    { bodyLimit: config.server.bodyLimit, https: tlsOptions(services.ownCertificates.tlsCertificatePem) },
    refusalRecorder(f),
  );
  // Every route's access declaration goes into the OpenAPI document; an /api/ route without one stops the start.
  api.addHook('onRoute', publishRouteAccess);
  closer.add(() => api.close());
  stapleOcspResponses(
    api.server as unknown as HttpsServer,
    services.ocsp,
    () => ({ nameDer: servicesCa.certificate.subjectNameDer, publicKeyBits: servicesCa.certificate.publicKeyBits }),
    f.logger,
  );
  await api.register(swagger, {
    openapi: {
      info: { title: 'Hearth control plane', version: '0.1.0', description: 'Private CA for smart-home device fleets' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  // The one origin of the homeowner pages and the OAuth issuer: configured, or this server's own (its port known once it listens).
  let listeningPort = config.server.apiPort;
  const origin = () => config.server.publicOrigin ?? `https://${config.server.publicHost}${listeningPort === 443 ? '' : `:${listeningPort}`}`;
  const oauth = await registerRoutes(api, f, services, revocationServer, new GatewayCertificates(servicesCa.certificate.der, store, clock), origin);
  api.get('/openapi.json', { schema: { hide: true } }, async () => api.swagger());
  await api.listen({ host: config.server.host, port: config.server.apiPort });
  listeningPort = (api.server.address() as AddressInfo).port;
  // The issuer and the audience name the origin integrations reach, known once the port is.
  await oauth.start(origin());
  return {
    port: listeningPort,
    useTlsCertificate: (chainPem) => (api.server as unknown as HttpsServer).setSecureContext(tlsOptions(chainPem)),
  };
}

async function registerRoutes(
  api: FastifyInstance,
  f: Foundations,
  services: TrustServices,
  revocationServer: RevocationServer,
  gateways: GatewayCertificates,
  origin: () => string,
): Promise<{ start(origin: string): Promise<void> }> {
  const { config, store, clock, raise, eabKeys } = f;
  const { authority } = services;
  const rateLimits = new ApiRateLimits(store, clock, config.api.rateLimits);
  const sessions = new HomeownerSessions(store, clock);
  const invitations = new AccountInvitations(store, clock, origin);
  const ownerOfDevice = async (deviceId: string) => {
    const enrollment = isDeviceId(deviceId) ? await store.provisioning.getEnrollment(deviceId) : undefined;
    return enrollment && { home: enrollment.home, manufacturer: enrollment.manufacturer };
  };
  const rateLimit = (request: FastifyRequest, principal: Principal | undefined, sensitive: boolean) => rateLimits.take(request, principal, sensitive);
  const oauth = await registerOauth(api, f, rateLimits, sessions, origin);
  // A DPoP-bound OAuth token; a bearer token when the request has another Authorization header;
  // otherwise a homeowner's session cookie, which for a request that changes something must come
  // with its CSRF token from our origin.
  const authenticate = async (request: FastifyRequest): Promise<Principal> => {
    if (/^DPoP /i.test(request.headers.authorization ?? '')) return oauth.verify(request);
    if (request.headers.authorization !== undefined || cookieValue(request.headers.cookie, SESSION_COOKIE) === undefined)
      return authenticateBearer(store, request.headers.authorization, clock.now());
    const session = await sessions.current(request);
    if (!session) throw new UnauthorizedError('the session has ended (signed out, expired or revoked): sign in again', 'session-expired');
    if (isUnsafeMethod(request.method)) {
      checkOrigin(request, origin(), session.account);
      sessions.checkCsrf(session, request);
    }
    return sessions.principalOf(session.account);
  };
  const gate: Gate = { authenticate, ownerOfDevice, rateLimit };
  const gatewayGate: Gate = {
    authenticate: async (request) => {
      const gateway = await gateways.authenticate(request.raw.socket as TLSSocket);
      if (!gateway) throw new UnauthorizedError("ingest takes a registered gateway's certificate (gateway profile) from the services CA");
      return gateway;
    },
    ownerOfDevice,
  };
  const attestation = new DeviceAttestation(store, clock, raise, (detail, message) => f.logger.warn(detail, message));
  const deviceCredentials = new DeviceCredentials(store, clock, raise, authority);
  const manufacturers = new ManufacturerRegistry(store, clock);
  manufacturers.onRootsChanged(() => attestation.rootsChanged());
  registerProvisioningRoutes(api, {
    store,
    manufacturers,
    manifests: new ManifestImporter(store, clock, raise),
    claims: new DeviceClaims(store, clock, raise),
    deviceCredentials,
    gate,
  });
  registerHomeRoutes(api, { store, homes: new Homes(store, clock), invitations, gate });
  registerIntegrationRoutes(api, { integrations: oauth.integrations, grants: oauth.grants, gate });
  registerGrantRoutes(api, { grants: oauth.grants, gate });
  await registerAccountRoutes(api, {
    store,
    sessions,
    ceremonies: new PasskeyCeremonies(store, clock, { id: config.server.publicHost, name: 'Hearth', origin }),
    invitations,
    recovery: new RecoveryCodes(store, clock),
    passkeys: new AccountPasskeys(store),
    rateLimits,
    origin,
  });
  registerApiTokenRoutes(api, { store, clock, gate });
  registerGatewayRoutes(api, { store, clock, authority, eabKeys, gate });
  registerCertificateRoutes(api, { store, authority, metrics: f.metrics, gate });
  registerRenewalWindowRoutes(api, { store, clock, gate });
  registerAcmeEabKeyRoutes(api, { store, clock, eabKeys, policies: Object.keys(config.acme.policies), gate });
  registerOperationalRoutes(api, storeReachability(store));
  registerMetricsRoute(api, f.metrics, gate);
  registerRevocationStreamRoutes(api, {
    feed: services.feed,
    crlUrl: services.urls.crl,
    caCertificatePem: (ca) => pemEncode('CERTIFICATE', revocationServer.caCertificates.get(ca) as Uint8Array),
    gate: { ...gate, authenticate: async (request) => (await gateways.authenticate(request.raw.socket as TLSSocket)) ?? gate.authenticate(request) },
  });
  registerTelemetryRoutes(api, { store, clock, gatewayDevices: new GatewayDevices(store, clock, raise), gatewayGate, gate });
  const commands = new DeviceCommands(store, clock, new CommandNotifier());
  registerDeviceCommandRoutes(api, { commands, gate });
  registerGatewayDownlinkRoutes(api, { commands, gate: gatewayGate });
  registerTransparencyLogRoutes(api, { store, checkpointer: services.checkpointer, verifierKey: f.logIdentity.verifierKey });
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
  if (config.acme.alwaysValid) f.logger.warn('acme.alwaysValid is on: ACME challenges pass without validation; this server is for load tests only');
  return oauth;
}
