/**
 * Row shapes as Kysely sees them. Instants are integer epoch milliseconds (BIGINT): that
 * round-trips a Date exactly on both dialects, unlike SQLite's text timestamps or PostgreSQL's
 * microsecond timestamptz. node-postgres returns BIGINT as a string, so reads accept both.
 */
import type { ColumnType } from 'kysely';
import type { CertificateState } from './store.js';

type EpochMs = ColumnType<number | string, number, number>;
type NullableEpochMs = ColumnType<number | string | null, number | null, number | null>;
type Bytes = ColumnType<Uint8Array, Uint8Array, Uint8Array>;
type NullableBytes = ColumnType<Uint8Array | null, Uint8Array | null, Uint8Array | null>;

export interface CertificatesTable {
  serial: string;
  ca: string;
  profile: string;
  identifier: string;
  tbs: Bytes;
  der: NullableBytes;
  state: CertificateState;
  not_before: EpochMs;
  not_after: EpochMs;
  created_at: EpochMs;
  revoked_at: NullableEpochMs;
  revocation_reason: number | null;
  /** The index of the certificate's cert.issued leaf in the transparency log. */
  log_index: ColumnType<number | string | null, number | null | undefined, number | null>;
}

export interface CrlNumbersTable {
  ca: string;
  last_number: ColumnType<number | string, number, number>;
}

export interface ApiTokensTable {
  id: string;
  hash: string;
  principal: string;
  role: string;
  created_at: EpochMs;
  name: ColumnType<string, string | undefined, string>;
  expires_at: NullableEpochMs;
  last_used_at: NullableEpochMs;
  revoked_at: NullableEpochMs;
  manufacturer: string | null;
  home: string | null;
}

export interface HomesTable {
  id: string;
  name: string;
  created_at: EpochMs;
}

export interface AccountsTable {
  id: string;
  name: string;
  created_at: EpochMs;
}

export interface WebauthnUsersTable {
  account_id: string;
  user_handle: Bytes;
}

export interface PasskeysTable {
  id: string;
  account_id: string;
  public_key: Bytes;
  counter: Count;
  /** JSON array of transport names. */
  transports: string;
  device_type: string;
  backed_up: number;
  aaguid: string;
  created_at: EpochMs;
  last_used_at: NullableEpochMs;
}

export interface AccountSessionsTable {
  id_hash: string;
  account_id: string;
  via: string;
  created_at: EpochMs;
  expires_at: EpochMs;
  last_seen_at: EpochMs;
}

export interface AccountInvitationsTable {
  hash: string;
  account_id: string;
  home_id: string;
  created_by: string;
  created_at: EpochMs;
  expires_at: EpochMs;
  used_at: NullableEpochMs;
}

export interface RecoveryCodesTable {
  account_id: string;
  hash: string;
  created_at: EpochMs;
  used_at: NullableEpochMs;
}

export interface WebauthnCeremoniesTable {
  id: string;
  kind: string;
  challenge: string;
  account_id: string | null;
  invitation_hash: string | null;
  created_at: EpochMs;
  expires_at: EpochMs;
}

export interface HomeMembersTable {
  home_id: string;
  account_id: string;
  added_at: EpochMs;
}

type Count = ColumnType<number | string, number, number>;

export interface LogEntriesTable {
  idx: Count;
  kind: string;
  leaf: Bytes;
  leaf_hash: Bytes;
  created_at: EpochMs;
}

export interface LogNodesTable {
  level: number;
  idx: Count;
  hash: Bytes;
}

export interface LogHeadTable {
  id: number;
  size: Count;
  /** Entries below this index are in log_hash_index. */
  hash_indexed: Count;
}

export interface LogHashIndexTable {
  /** The leaf hash's first six bytes as an integer (exact in a JavaScript number). */
  hash_prefix: Count;
  idx: Count;
}

export interface LogCheckpointsTable {
  size: Count;
  root: Bytes;
  note: string;
  created_at: EpochMs;
}

export interface AcmeNoncesTable {
  nonce: string;
  expires_at: EpochMs;
}

export interface AcmeAccountsTable {
  id: string;
  thumbprint: string;
  /** The account's public JWK, as JSON. */
  jwk: string;
  status: string;
  /** JSON array of contact URLs. */
  contact: string;
  terms_agreed: number;
  created_at: EpochMs;
  /** The identifier policy's name; null for the configured default. */
  policy: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface AcmeEabKeysTable {
  kid: string;
  policy: string | null;
  created_at: EpochMs;
  account_id: string | null;
  bound_at: NullableEpochMs;
}

export interface RateCountersTable {
  key: string;
  window_start: EpochMs;
  count: number;
}

export interface RenewalWindowsTable {
  serial: string;
  window_start: EpochMs;
  window_end: EpochMs;
  explanation_url: string | null;
  set_at: EpochMs;
}

export interface AcmeOrdersTable {
  id: string;
  account_id: string;
  status: string;
  /** JSON array of {type, value}. */
  identifiers: string;
  /** JSON array of authorization ids. */
  authorizations: string;
  expires_at: EpochMs;
  certificate_serial: string | null;
  /** JSON problem document, once the order is invalid. */
  error: string | null;
  created_at: EpochMs;
  /** Serial of the certificate this order replaces (RFC 9773 `replaces`). */
  replaces: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface AcmeAuthorizationsTable {
  id: string;
  account_id: string;
  identifier_type: string;
  identifier_value: string;
  status: string;
  expires_at: EpochMs;
  order_id: string;
  /** JSON array of challenges. */
  challenges: string;
  created_at: EpochMs;
}

export interface ManufacturersTable {
  name: string;
  manifest_key: Bytes;
  manifest_key_sha256: string;
  allow_any_device: number;
  legacy_attestation_certificates: number;
  created_at: EpochMs;
}

export interface AttestationRootsTable {
  sha256: string;
  manufacturer: string;
  der: Bytes;
  created_at: EpochMs;
}

export interface DeviceModelsTable {
  manufacturer: string;
  model: string;
  mud_url: string | null;
}

export interface FactoryManifestsTable {
  batch_id: string;
  manufacturer: string;
  model: string;
  manifest_sha256: string;
  device_count: number;
  imported_at: EpochMs;
}

export interface EnrollmentsTable {
  device_id: string;
  manufacturer: string;
  model: string;
  serial: string;
  batch_id: string | null;
  factory_cert_sha256: string | null;
  factory_key_sha256: string | null;
  setup_code_hash: string | null;
  state: string;
  certificate_serial: string | null;
  enrolled_at: NullableEpochMs;
  home: string | null;
  claimed_at: NullableEpochMs;
  claim_failures: number;
  created_at: EpochMs;
  operational_key_sha256: string | null;
  rekeys: ColumnType<number | string, number | undefined, number>;
  state_reason: string | null;
}

export interface FactoryRevocationsTable {
  certificate_sha256: string;
  manufacturer: string;
  reason: string;
  revoked_at: EpochMs;
}

export interface SecurityEventsTable {
  id: string;
  type: string;
  device_id: string | null;
  /** JSON object. */
  detail: string;
  created_at: EpochMs;
}

export interface TelemetryMessagesTable {
  gateway: string;
  message_id: string;
  device_id: string;
  topic: string;
  payload: Bytes;
  qos: number;
  published_at: EpochMs;
  received_at: EpochMs;
  home: string | null;
}

export interface BlockedKeysTable {
  spki_sha256: string;
  serial: string | null;
  reason: string;
  blocked_at: EpochMs;
}

export interface GatewaysTable {
  name: string;
  eab_kid: string;
  status: string;
  created_at: EpochMs;
  retired_at: NullableEpochMs;
  home: string | null;
}

export interface GatewayDevicesTable {
  device_id: string;
  gateway: string;
  attached_at: EpochMs;
}

export interface DeviceCommandsTable {
  id: string;
  gateway: string;
  device_id: string;
  home: string | null;
  name: string;
  payload: Bytes;
  state: string;
  sequence: ColumnType<number | string, number, number>;
  created_at: EpochMs;
  expires_at: EpochMs;
  delivered_at: NullableEpochMs;
  acknowledged_at: NullableEpochMs;
  requested_by: string;
  detail: string | null;
}

export interface DeviceCommandSequencesTable {
  gateway: string;
  last_sequence: ColumnType<number | string, number, number>;
}

export interface OauthArtifactsTable {
  model: string;
  id: string;
  /** JSON. */
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  /** Epoch seconds; null never expires. */
  expires_at: ColumnType<number | string | null, number | null, number | null>;
  consumed_at: ColumnType<number | string | null, number | null, number | null>;
}

export interface OauthClientsTable {
  id: string;
  name: string;
  /** JSON arrays. */
  redirect_uris: string;
  grant_types: string;
  scopes: string;
  created_at: EpochMs;
  removed_at: NullableEpochMs;
}

export interface OauthGrantsTable {
  id: string;
  client_id: string;
  account: string | null;
  /** JSON arrays. */
  homes: string;
  scopes: string;
  salt: string;
  created_at: EpochMs;
  revoked_at: NullableEpochMs;
  revoked_reason: string | null;
}

export interface HearthDatabase {
  oauth_artifacts: OauthArtifactsTable;
  oauth_clients: OauthClientsTable;
  oauth_grants: OauthGrantsTable;
  device_commands: DeviceCommandsTable;
  device_command_sequences: DeviceCommandSequencesTable;
  blocked_keys: BlockedKeysTable;
  gateways: GatewaysTable;
  gateway_devices: GatewayDevicesTable;
  telemetry_messages: TelemetryMessagesTable;
  manufacturers: ManufacturersTable;
  attestation_roots: AttestationRootsTable;
  device_models: DeviceModelsTable;
  factory_manifests: FactoryManifestsTable;
  enrollments: EnrollmentsTable;
  security_events: SecurityEventsTable;
  factory_revocations: FactoryRevocationsTable;
  acme_orders: AcmeOrdersTable;
  renewal_windows: RenewalWindowsTable;
  acme_eab_keys: AcmeEabKeysTable;
  rate_counters: RateCountersTable;
  acme_authorizations: AcmeAuthorizationsTable;
  acme_nonces: AcmeNoncesTable;
  acme_accounts: AcmeAccountsTable;
  log_entries: LogEntriesTable;
  log_nodes: LogNodesTable;
  log_head: LogHeadTable;
  log_hash_index: LogHashIndexTable;
  log_checkpoints: LogCheckpointsTable;
  certificates: CertificatesTable;
  crl_numbers: CrlNumbersTable;
  api_tokens: ApiTokensTable;
  homes: HomesTable;
  accounts: AccountsTable;
  home_members: HomeMembersTable;
  webauthn_users: WebauthnUsersTable;
  passkeys: PasskeysTable;
  account_sessions: AccountSessionsTable;
  account_invitations: AccountInvitationsTable;
  recovery_codes: RecoveryCodesTable;
  webauthn_ceremonies: WebauthnCeremoniesTable;
}
