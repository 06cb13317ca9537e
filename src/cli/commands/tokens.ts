/**
 * `hearth token create | list | revoke`: the bearer tokens people and scripts use. Through the
 * API with an admin token (HEARTH_TOKEN), or with --local straight on the installation's database,
 * for whoever holds the data directory: that is how the next admin token is made when the last one
 * expired.
 */
import type { Command } from '@commander-js/extra-typings';
import { createApiToken, DEFAULT_TOKEN_TTL_MS, parseTtl } from '../../access/api-tokens.js';
import { TOKEN_ROLES, type TokenRole } from '../../access/principal.js';
import { systemClock } from '../../core/clock.js';
import { databaseUrl } from '../../authority/installation-config.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { clientFor, withApiOptions } from '../api-connection.js';
import { choiceOption } from '../choices.js';
import { dataDirFrom, readInstallation } from '../installation.js';

interface TokenView {
  id: string;
  name: string;
  role: string;
  manufacturer: string | null;
  home: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

async function withLocalStore<T>(dir: string | undefined, fn: (store: Store) => Promise<T>): Promise<T> {
  const { layout, config } = readInstallation(dataDirFrom(dir));
  const store = await openStore({ url: databaseUrl(config, layout), ...(config.database.schema ? { schema: config.database.schema } : {}) });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function describe(t: TokenView, now: Date): string {
  const state = t.revokedAt
    ? `revoked ${t.revokedAt}`
    : t.expiresAt === null
      ? 'never expires (made before tokens expired: replace it)'
      : new Date(t.expiresAt) <= now
        ? `expired ${t.expiresAt}`
        : `expires ${t.expiresAt}`;
  const tenant = t.manufacturer ? `  manufacturer ${t.manufacturer}` : t.home ? `  home ${t.home}` : '';
  return `${t.id}  ${t.role.padEnd(12)} ${t.name}${tenant}  ${state}  last used ${t.lastUsedAt ?? 'never'}`;
}

export function registerTokenCommands(program: Command): void {
  const token = program
    .command('token')
    .description('make, list and revoke API bearer tokens (talks to `hearth serve` with an admin token from HEARTH_TOKEN, or --local on the data directory)');

  withApiOptions(token.command('create'))
    .description('make a token; it is printed once and stored only as a hash')
    .addOption(choiceOption('--role <role>', 'what the token may do', TOKEN_ROLES).makeOptionMandatory())
    .option('--name <name>', 'what the token is for (shown in `hearth token list`)', 'cli')
    .option('--manufacturer <name>', 'the manufacturer a manufacturer or release token speaks for')
    .option('--home <id>', 'the home a homeowner token is for')
    .option('--ttl <duration>', 'how long it lasts: 30d, 12h, 45m, 90s (at most 366d)', '30d')
    .option('--local', 'write straight to the database of the data directory (no server, no token needed)')
    .action(async (opts) => {
      const role: TokenRole = opts.role;
      const tenant = {
        ...(opts.manufacturer !== undefined ? { manufacturer: opts.manufacturer } : {}),
        ...(opts.home !== undefined ? { home: opts.home } : {}),
      };
      let created: { id: string; token: string; expiresAt: string };
      if (opts.local) {
        const ttlMs = opts.ttl === undefined ? DEFAULT_TOKEN_TTL_MS : parseTtl(opts.ttl);
        const made = await withLocalStore(opts.dir, (store) => createApiToken(store, { name: opts.name, role, ttlMs, ...tenant }, systemClock.now()));
        created = { id: made.id, token: made.token, expiresAt: made.expiresAt.toISOString() };
      } else {
        created = await clientFor(opts).call<TokenView & { token: string; expiresAt: string }>('POST', '/api/v1/tokens', {
          name: opts.name,
          role,
          ttl: opts.ttl,
          ...tenant,
        });
      }
      console.log(
        `token ${created.id} (${role}${opts.manufacturer ? ` for ${opts.manufacturer}` : ''}${opts.home ? ` for home ${opts.home}` : ''}), expires ${created.expiresAt}`,
      );
      console.log('shown once, stored only as a hash:');
      console.log(`  ${created.token}`);
    });

  withApiOptions(token.command('list'))
    .description('every token: id, role, name, tenant, expiry, last use')
    .option('--local', 'read the database of the data directory')
    .action(async (opts) => {
      const tokens: TokenView[] = opts.local
        ? await withLocalStore(opts.dir, async (store) =>
            (await store.tokens.listApiTokens()).map((t) => ({
              ...t,
              createdAt: t.createdAt.toISOString(),
              expiresAt: t.expiresAt?.toISOString() ?? null,
              lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
              revokedAt: t.revokedAt?.toISOString() ?? null,
            })),
          )
        : (await clientFor(opts).call<{ tokens: TokenView[] }>('GET', '/api/v1/tokens')).tokens;
      if (tokens.length === 0) console.log('no tokens');
      const now = new Date();
      for (const t of tokens) console.log(describe(t, now));
    });

  withApiOptions(token.command('revoke <id>'))
    .description('revoke a token: using it is then refused with 401 token-revoked')
    .option('--local', 'write straight to the database of the data directory')
    .action(async (id: string, opts) => {
      if (opts.local) {
        const revoked = await withLocalStore(opts.dir, (store) => store.tokens.revokeApiToken(id, systemClock.now()));
        if (!revoked) throw new Error(`no live token ${id}`);
      } else {
        await clientFor(opts).call('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
      }
      console.log(`revoked token ${id}`);
    });
}
