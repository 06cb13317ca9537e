/**
 * What every part of the control plane stands on, opened from the data directory and config: the
 * issuing CAs' keys, the root certificate, the store, the bus, the security-event sink, the log's
 * signing identity and the EAB key derivation. Each is registered with the closer as it opens.
 */
import { availableParallelism } from 'node:os';
import type { Clock } from '../core/clock.js';
import type { Closer } from '../core/closer.js';
import type { HearthConfig } from '../core/config.js';
import { DataDirLayout } from '../core/data-dir-layout.js';
import type { Logger } from '../core/logger.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { openBus } from '../bus/open-bus.js';
import type { EventBus } from '../bus/bus.js';
import { databaseUrl, keyProviderFor, readSecret } from '../authority/installation-config.js';
import { loadIssuingCas, loadRootCertificate } from '../authority/ca-material.js';
import type { IssuingCa } from '../authority/issuing-ca.js';
import type { CertificateFacts } from '../pki/certificate-facts.js';
import { openLogIdentity, type LogIdentity } from '../transparency/log-key.js';
import { EabKeyDerivation } from '../access/eab-key-derivation.js';
import { securityEventSink, type SecurityEventSink } from '../provisioning/security-events.js';
import { ControlPlaneMetrics } from '../api/metrics.js';

export interface Foundations {
  config: HearthConfig;
  logger: Logger;
  clock: Clock;
  layout: DataDirLayout;
  metrics: ControlPlaneMetrics;
  cas: Map<string, IssuingCa>;
  root: CertificateFacts;
  store: Store;
  bus: EventBus;
  raise: SecurityEventSink;
  /** The passphrase of the encrypted key files (the TLS key is always one: Node's TLS cannot use a PKCS#11 key). */
  passphrase: string;
  logIdentity: LogIdentity;
  eabKeys: EabKeyDerivation;
  draftWorkers: number;
}

export async function openFoundations(dataDir: string, config: HearthConfig, logger: Logger, clock: Clock, closer: Closer): Promise<Foundations> {
  const layout = new DataDirLayout(dataDir);
  const cas = await loadIssuingCas(layout, keyProviderFor(config, layout));
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
  const passphrase = readSecret(config.keys.passphrase, layout);
  const logIdentity = await openLogIdentity(layout, passphrase);
  closer.add(() => logIdentity.close());
  const eab = await EabKeyDerivation.fromSecretFile(layout.eabSecret);
  if (eab.created)
    logger.warn({ path: layout.eabSecret }, 'made the secret EAB keys are derived from; every control-plane process of this installation needs a copy of it');
  const draftWorkers = config.issuance.draftWorkers ?? availableParallelism();
  return {
    config,
    logger,
    clock,
    layout,
    metrics: new ControlPlaneMetrics(),
    cas,
    root,
    store,
    bus,
    raise,
    passphrase,
    logIdentity,
    eabKeys: eab.keys,
    draftWorkers,
  };
}
