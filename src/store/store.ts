/**
 * The store port: everything the services persist, as one sub-port per consumer. One Kysely
 * implementation serves both SQLite (default) and PostgreSQL; the contract test suite runs
 * against both.
 */
import type { AccountStore } from './account-store.js';
import type { AcmeStore } from './acme-store.js';
import type { ApiTokenStore } from './api-token-store.js';
import type { CertificateStore } from './certificate-store.js';
import type { CommandStore } from './command-store.js';
import type { GatewayStore } from './gateway-store.js';
import type { HomeStore } from './home-store.js';
import type { OauthStore } from './oauth-store.js';
import type { LogHashIndexer, LogStore } from './log-store.js';
import type { ProvisioningStore } from './provisioning-store.js';
import type { TelemetryStore } from './telemetry-store.js';

// The records stay importable from here, where they were before the port was split.
export type {
  BlockedKeyRecord,
  CertificateQuery,
  CertificateRecord,
  CertificateState,
  NewPendingCertificate,
  RenewalSelection,
  RenewalWindowRecord,
  RevocationReason,
} from './certificate-store.js';
export type { CheckpointRecord, LogEntryRecord, LogNodeRecord } from './log-store.js';
export type {
  AcmeAccountRecord,
  AcmeAccountStatus,
  AcmeAuthorizationRecord,
  AcmeChallengeRecord,
  AcmeEabKeyRecord,
  AcmeIdentifier,
  AcmeOrderRecord,
} from './acme-store.js';
export type { ApiTokenRecord } from './api-token-store.js';

export interface StoreTx {
  /** Certificate rows, blocked keys, CRL numbers and renewal windows. */
  readonly certificates: CertificateStore;
  /** The transparency log's entries, nodes, head and checkpoints. */
  readonly log: LogStore;
  /** ACME nonces, accounts, orders, authorizations, EAB keys and rate counters. */
  readonly acme: AcmeStore;
  /** The REST API's bearer tokens (their hashes). */
  readonly tokens: ApiTokenStore;
  /** Manufacturers, attestation roots, manifests, enrollments and provisioning's security events. */
  readonly provisioning: ProvisioningStore;
  /** Device messages forwarded by home gateways, each stored once. */
  readonly telemetry: TelemetryStore;
  /** Registered home gateways and the devices attached to each. */
  readonly gateways: GatewayStore;
  /** Homes (tenants), homeowner accounts and memberships. */
  readonly homes: HomeStore;
  /** The OAuth authorization server's artifacts, registered integrations and homeowners' grants. */
  readonly oauth: OauthStore;
  /** Commands queued for devices, delivered through their gateway's downlink. */
  readonly commands: CommandStore;
  /** Homeowner sign-in: passkeys, sessions, invitations, recovery codes and ceremonies in progress. */
  readonly accounts: AccountStore;
}

export interface Store extends StoreTx {
  readonly dialect: 'sqlite' | 'postgres';
  /** Outside a transaction the log also indexes leaf hashes, in a transaction of its own. */
  readonly log: LogStore & LogHashIndexer;
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
