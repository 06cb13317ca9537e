/** The homeowner sign-in store on Kysely: user handles, passkeys, sessions, invitations, recovery codes and ceremonies. */
import type { Kysely, Selectable } from 'kysely';
import type { AccountInvitationsTable, AccountSessionsTable, HearthDatabase, PasskeysTable, WebauthnCeremoniesTable } from './schema.js';
import type { AccountInvitationRecord, AccountSessionRecord, AccountStore, PasskeyRecord, PendingCeremonyRecord } from './account-store.js';
import { toBuffer } from './binary-column.js';
import { epochMs, dateOrNull as nullableDate } from './epoch-ms.js';
import { insertUnique } from './unique-violation.js';

const date = (value: number | string) => new Date(Number(value));

function passkeyOf(row: Selectable<PasskeysTable>): PasskeyRecord {
  return {
    id: row.id,
    account: row.account_id,
    publicKey: new Uint8Array(row.public_key),
    counter: Number(row.counter),
    transports: JSON.parse(row.transports) as string[],
    deviceType: row.device_type,
    backedUp: Number(row.backed_up) === 1,
    aaguid: row.aaguid,
    createdAt: date(row.created_at),
    lastUsedAt: nullableDate(row.last_used_at),
  };
}

function sessionOf(row: Selectable<AccountSessionsTable>): AccountSessionRecord {
  return {
    idHash: row.id_hash,
    account: row.account_id,
    via: row.via,
    createdAt: date(row.created_at),
    expiresAt: date(row.expires_at),
    lastSeenAt: date(row.last_seen_at),
  };
}

function invitationOf(row: Selectable<AccountInvitationsTable>): AccountInvitationRecord {
  return {
    hash: row.hash,
    account: row.account_id,
    home: row.home_id,
    createdBy: row.created_by,
    createdAt: date(row.created_at),
    expiresAt: date(row.expires_at),
    usedAt: nullableDate(row.used_at),
  };
}

function ceremonyOf(row: Selectable<WebauthnCeremoniesTable>): PendingCeremonyRecord {
  return {
    id: row.id,
    kind: row.kind === 'register' ? 'register' : 'sign-in',
    challenge: row.challenge,
    account: row.account_id,
    invitation: row.invitation_hash,
    createdAt: date(row.created_at),
    expiresAt: date(row.expires_at),
  };
}

export class KyselyAccountStore implements AccountStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async getUserHandle(account: string): Promise<Uint8Array | undefined> {
    const row = await this.db.selectFrom('webauthn_users').select('user_handle').where('account_id', '=', account).executeTakeFirst();
    return row && new Uint8Array(row.user_handle);
  }

  async ensureUserHandle(account: string, handle: Uint8Array): Promise<Uint8Array> {
    await this.db
      .insertInto('webauthn_users')
      .values({ account_id: account, user_handle: toBuffer(handle) })
      .onConflict((oc) => oc.column('account_id').doNothing())
      .execute();
    return (await this.getUserHandle(account)) as Uint8Array;
  }

  async insertPasskey(passkey: PasskeyRecord): Promise<void> {
    await insertUnique(`passkey ${passkey.id}`, () =>
      this.db
        .insertInto('passkeys')
        .values({
          id: passkey.id,
          account_id: passkey.account,
          public_key: toBuffer(passkey.publicKey),
          counter: passkey.counter,
          transports: JSON.stringify(passkey.transports),
          device_type: passkey.deviceType,
          backed_up: passkey.backedUp ? 1 : 0,
          aaguid: passkey.aaguid,
          created_at: epochMs(passkey.createdAt, 'createdAt'),
          last_used_at: passkey.lastUsedAt === null ? null : epochMs(passkey.lastUsedAt, 'lastUsedAt'),
        })
        .execute(),
    );
  }

  async getPasskey(id: string): Promise<PasskeyRecord | undefined> {
    const row = await this.db.selectFrom('passkeys').selectAll().where('id', '=', id).executeTakeFirst();
    return row && passkeyOf(row);
  }

  async listPasskeys(account: string): Promise<PasskeyRecord[]> {
    const rows = await this.db.selectFrom('passkeys').selectAll().where('account_id', '=', account).orderBy('created_at').orderBy('id').execute();
    return rows.map(passkeyOf);
  }

  async recordPasskeyUse(id: string, expectedCounter: number, counter: number, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('passkeys')
      .set({ counter, last_used_at: epochMs(at, 'at') })
      .where('id', '=', id)
      .where('counter', '=', expectedCounter)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deletePasskey(account: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('passkeys').where('id', '=', id).where('account_id', '=', account).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async insertSession(session: AccountSessionRecord): Promise<void> {
    await this.db
      .insertInto('account_sessions')
      .values({
        id_hash: session.idHash,
        account_id: session.account,
        via: session.via,
        created_at: epochMs(session.createdAt, 'createdAt'),
        expires_at: epochMs(session.expiresAt, 'expiresAt'),
        last_seen_at: epochMs(session.lastSeenAt, 'lastSeenAt'),
      })
      .execute();
  }

  async getSession(idHash: string): Promise<AccountSessionRecord | undefined> {
    const row = await this.db.selectFrom('account_sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
    return row && sessionOf(row);
  }

  async touchSession(idHash: string, at: Date): Promise<void> {
    await this.db
      .updateTable('account_sessions')
      .set({ last_seen_at: epochMs(at, 'at') })
      .where('id_hash', '=', idHash)
      .execute();
  }

  async deleteSession(idHash: string): Promise<boolean> {
    const result = await this.db.deleteFrom('account_sessions').where('id_hash', '=', idHash).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async deleteSessionsOfAccount(account: string): Promise<number> {
    const result = await this.db.deleteFrom('account_sessions').where('account_id', '=', account).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertInvitation(invitation: AccountInvitationRecord): Promise<void> {
    await this.db
      .insertInto('account_invitations')
      .values({
        hash: invitation.hash,
        account_id: invitation.account,
        home_id: invitation.home,
        created_by: invitation.createdBy,
        created_at: epochMs(invitation.createdAt, 'createdAt'),
        expires_at: epochMs(invitation.expiresAt, 'expiresAt'),
        used_at: invitation.usedAt === null ? null : epochMs(invitation.usedAt, 'usedAt'),
      })
      .execute();
  }

  async getInvitation(hash: string): Promise<AccountInvitationRecord | undefined> {
    const row = await this.db.selectFrom('account_invitations').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row && invitationOf(row);
  }

  async useInvitation(hash: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('account_invitations')
      .set({ used_at: epochMs(at, 'at') })
      .where('hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async replaceRecoveryCodes(account: string, hashes: readonly string[], at: Date): Promise<void> {
    await this.db.deleteFrom('recovery_codes').where('account_id', '=', account).execute();
    if (hashes.length === 0) return;
    const createdAt = epochMs(at, 'at');
    await this.db
      .insertInto('recovery_codes')
      .values(hashes.map((hash) => ({ account_id: account, hash, created_at: createdAt, used_at: null })))
      .execute();
  }

  async useRecoveryCode(account: string, hash: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('recovery_codes')
      .set({ used_at: epochMs(at, 'at') })
      .where('account_id', '=', account)
      .where('hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async countRecoveryCodes(account: string): Promise<number> {
    const row = await this.db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('account_id', '=', account)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async putCeremony(ceremony: PendingCeremonyRecord): Promise<void> {
    const values = {
      kind: ceremony.kind,
      challenge: ceremony.challenge,
      account_id: ceremony.account,
      invitation_hash: ceremony.invitation,
      created_at: epochMs(ceremony.createdAt, 'createdAt'),
      expires_at: epochMs(ceremony.expiresAt, 'expiresAt'),
    };
    await this.db
      .insertInto('webauthn_ceremonies')
      .values({ id: ceremony.id, ...values })
      .onConflict((oc) => oc.column('id').doUpdateSet(values))
      .execute();
  }

  async takeCeremony(id: string): Promise<PendingCeremonyRecord | undefined> {
    const row = await this.db.deleteFrom('webauthn_ceremonies').where('id', '=', id).returningAll().executeTakeFirst();
    return row && ceremonyOf(row);
  }

  async purgeExpired(now: Date): Promise<void> {
    const at = epochMs(now, 'now');
    await this.db.deleteFrom('account_sessions').where('expires_at', '<=', at).execute();
    await this.db.deleteFrom('webauthn_ceremonies').where('expires_at', '<=', at).execute();
    await this.db.deleteFrom('account_invitations').where('expires_at', '<=', at).execute();
  }
}
