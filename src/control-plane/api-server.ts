/**
 * The HTTPS API: REST, the ACME server, the transparency log, the revocation stream and ingest
 * for gateways, OpenAPI, health and metrics. Callers authenticate with a bearer token, a JWS
 * (ACME) or, for gateways, a certificate of the services CA sent in the handshake. A new part of
 * Hearth adds its routes here, with one line.
 */
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFile } from 'node:fs/promises';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticate } from '../api/route-authentication.js';
import type { Closer } from '../core/closer.js';
import { UnauthorizedError } from '../core/errors.js';
import { tlsServerPolicy } from '../core/tls-policy.js';
import { pemEncode } from '../pki/certificate-assembly.js';
import { authenticateBearer } from '../access/api-tokens.js';
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
  const api = serverApp(f.logger, f.metrics, 'api', { bodyLimit: config.server.bodyLimit, https: tlsOptions(services.ownCertificates.tlsCertificatePem) });
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
  await registerRoutes(api, f, services, revocationServer, new GatewayCertificates(servicesCa.certificate.der, store, clock));
  api.get('/openapi.json', { schema: { hide: true } }, async () => api.swagger());
  await api.listen({ host: config.server.host, port: config.server.apiPort });
  return {
    port: (api.server.address() as AddressInfo).port,
    useTlsCertificate: (chainPem) => (api.server as unknown as HttpsServer).setSecureContext(tlsOptions(chainPem)),
  };
}

async function registerRoutes(
  api: FastifyInstance,
  f: Foundations,
  services: TrustServices,
  revocationServer: RevocationServer,
  gateways: GatewayCertificates,
): Promise<void> {
  const { config, store, clock, raise, eabKeys } = f;
  const { authority } = services;
  const authenticate = (request: FastifyRequest) => authenticateBearer(store, request.headers.authorization);
  const authenticateGateway = async (request: FastifyRequest) => {
    const gateway = await gateways.authenticate(request.raw.socket as TLSSocket);
    if (!gateway) throw new UnauthorizedError("ingest takes a registered gateway's certificate (gateway profile) from the services CA");
    return gateway;
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
    authenticate,
  });
  registerGatewayRoutes(api, { store, clock, authority, eabKeys, authenticate });
  registerCertificateRoutes(api, { store, authority, metrics: f.metrics, authenticate });
  registerRenewalWindowRoutes(api, { store, clock, authenticate });
  registerAcmeEabKeyRoutes(api, { store, clock, eabKeys, policies: Object.keys(config.acme.policies), authenticate });
  registerOperationalRoutes(api, storeReachability(store));
  registerMetricsRoute(api, f.metrics, authenticate);
  registerRevocationStreamRoutes(api, {
    feed: services.feed,
    crlUrl: services.urls.crl,
    caCertificatePem: (ca) => pemEncode('CERTIFICATE', revocationServer.caCertificates.get(ca) as Uint8Array),
    authenticate: async (request) => (await gateways.authenticate(request.raw.socket as TLSSocket)) ?? authenticate(request),
  });
  registerTelemetryRoutes(api, { store, clock, gatewayDevices: new GatewayDevices(store, clock, raise), authenticateGateway, authenticate });
  registerCommandRoutes(api, new DeviceCommands(store, clock, new CommandNotifier()), authenticate, authenticateGateway);
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
}

/** Commands to devices for operators, and the downlink that takes them to the gateways, over one DeviceCommands. */
function registerCommandRoutes(api: FastifyInstance, commands: DeviceCommands, authenticate: Authenticate, authenticateGateway: Authenticate): void {
  registerDeviceCommandRoutes(api, { commands, authenticate });
  registerGatewayDownlinkRoutes(api, { commands, authenticateGateway });
}
