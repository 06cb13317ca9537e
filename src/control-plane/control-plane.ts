/**
 * `hearth serve`: the control plane's composition root. It opens what everything stands on
 * (foundations), starts the plain-HTTP revocation server, the authority and the services that
 * keep its answers true, the HTTPS API, and schedules the background jobs; it only wires. Every
 * part is chosen from config (store, bus, key backend) and closed, last opened first, by `close`.
 */
import { readFile } from 'node:fs/promises';
import { systemClock, type Clock } from '../core/clock.js';
import { Closer } from '../core/closer.js';
import type { HearthConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { EventBus } from '../bus/bus.js';
import type { Store } from '../store/store.js';
import type { Authority } from '../authority/authority.js';
import { CrlPublisher } from '../authority/crl-publisher.js';
import { OcspResponder } from '../authority/ocsp-responder.js';
import type { Checkpointer } from '../transparency/checkpointer.js';
import { startApiServer } from './api-server.js';
import { scheduleBackgroundJobs } from './background-jobs.js';
import { openFoundations } from './foundations.js';
import { startRevocationServer } from './revocation-server.js';
import { startTrustServices } from './trust-services.js';

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

export async function startControlPlane(options: ControlPlaneOptions): Promise<RunningControlPlane> {
  const closer = new Closer((err) => options.logger.error({ err }, 'closing a part of the control plane failed'));
  try {
    return await assemble(options, closer);
  } catch (err) {
    await closer.closeAll();
    throw err;
  }
}

async function assemble(options: ControlPlaneOptions, closer: Closer): Promise<RunningControlPlane> {
  const { config } = options;
  const f = await openFoundations(options.dataDir, config, options.logger, options.clock ?? systemClock, closer);
  const responders = {
    crls: new CrlPublisher(f.store, f.cas, f.clock, config.crl.validitySeconds),
    ocsp: new OcspResponder(f.store, f.cas, f.clock, config.ocsp.validitySeconds, (outcome) => f.metrics.ocsp.inc({ outcome })),
  };
  const revocationServer = await startRevocationServer(f, responders, closer);
  const services = await startTrustServices(f, responders, revocationServer, await readFile(f.layout.tlsCertificate, 'utf8'), closer);
  const api = await startApiServer(f, services, revocationServer, closer);
  scheduleBackgroundJobs(f, services, api, closer);

  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return {
    apiUrl: `https://${config.server.publicHost === 'localhost' ? 'localhost' : host}:${api.port}`,
    httpUrl: `http://${host}:${revocationServer.port}`,
    authority: services.authority,
    store: f.store,
    bus: f.bus,
    crls: services.crls,
    ocsp: services.ocsp,
    checkpointer: services.checkpointer,
    logVerifierKey: f.logIdentity.verifierKey,
    close: () => closer.closeAll(),
  };
}
