/**
 * The Store port on Kysely: the connection, its transactions, and the sub-ports composed over
 * either. The same queries serve SQLite and PostgreSQL; each sub-port's live in its own file.
 */
import type { Kysely } from 'kysely';
import type { HearthDatabase } from './schema.js';
import type { Store, StoreTx } from './store.js';
import { compileCertificateQueries, KyselyCertificateStore, type CertificateQueries } from './kysely-certificate-store.js';
import { KyselyLogStore } from './kysely-log-store.js';
import { KyselyAcmeStore } from './kysely-acme-store.js';
import { KyselyApiTokenStore } from './kysely-api-token-store.js';
import { KyselyProvisioningStore } from './kysely-provisioning-store.js';
import { KyselyTelemetryStore } from './kysely-telemetry-store.js';
import { KyselyGatewayStore } from './kysely-gateway-store.js';
import { KyselyHomeStore } from './kysely-home-store.js';
import { KyselyOauthStore } from './kysely-oauth-store.js';
import { KyselyCommandStore } from './kysely-command-store.js';
import { KyselyAccountStore } from './kysely-account-store.js';

/** The sub-ports bound to either the root Kysely instance or one Kysely transaction. */
class KyselyStoreTx implements StoreTx {
  readonly certificates: KyselyCertificateStore;
  readonly log: KyselyLogStore;
  readonly acme: KyselyAcmeStore;
  readonly tokens: KyselyApiTokenStore;
  readonly provisioning: KyselyProvisioningStore;
  readonly telemetry: KyselyTelemetryStore;
  readonly gateways: KyselyGatewayStore;
  readonly homes: KyselyHomeStore;
  readonly oauth: KyselyOauthStore;
  readonly commands: KyselyCommandStore;
  readonly accounts: KyselyAccountStore;

  constructor(db: Kysely<HearthDatabase>, certificateQueries: CertificateQueries, dialect: 'sqlite' | 'postgres') {
    this.certificates = new KyselyCertificateStore(db, certificateQueries, dialect);
    this.log = new KyselyLogStore(db, dialect);
    this.acme = new KyselyAcmeStore(db);
    this.tokens = new KyselyApiTokenStore(db);
    this.provisioning = new KyselyProvisioningStore(db);
    this.telemetry = new KyselyTelemetryStore(db);
    this.gateways = new KyselyGatewayStore(db);
    this.homes = new KyselyHomeStore(db);
    this.oauth = new KyselyOauthStore(db);
    this.commands = new KyselyCommandStore(db);
    this.accounts = new KyselyAccountStore(db);
  }
}

export class KyselyStore extends KyselyStoreTx implements Store {
  /** Compiled once here, so that transactions reuse them instead of building the hot queries again. */
  private readonly certificateQueries: CertificateQueries;

  constructor(
    private readonly db: Kysely<HearthDatabase>,
    readonly dialect: 'sqlite' | 'postgres',
  ) {
    const certificateQueries = compileCertificateQueries(db);
    super(db, certificateQueries, dialect);
    this.certificateQueries = certificateQueries;
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new KyselyStoreTx(trx, this.certificateQueries, this.dialect)));
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
