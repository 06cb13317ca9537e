/**
 * `hearth integration add | list | remove` and `hearth grants list | revoke`: OAuth integrations
 * and what homeowners granted them (talks to `hearth serve` with a token from HEARTH_TOKEN).
 */
import { Option, type Command } from '@commander-js/extra-typings';
import { OAUTH_SCOPES } from '../../access/oauth/oauth-scopes.js';
import { clientFor, withApiOptions } from '../api-connection.js';

interface IntegrationView {
  clientId: string;
  name: string;
  redirectUris: string[];
  grantTypes: string[];
  scopes: string[];
  createdAt: string;
  removedAt: string | null;
}

interface GrantView {
  id: string;
  integration: string;
  account: string | null;
  homes: string[];
  scopes: string[];
  createdAt: string;
  revokedAt: string | null;
  revokedReason: string | null;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerIntegrationCommands(program: Command): void {
  const integration = program.command('integration').description('OAuth integrations (voice assistants, platforms): register, list, remove');

  withApiOptions(integration.command('add <name>'))
    .description('register an integration; prints its client id and secret (the secret once)')
    .option('--redirect-uri <uri>', 'where authorization codes may be sent (https; http only on loopback); repeat for several', collect)
    .addOption(new Option('--scopes <scopes...>', `the most it may be granted: ${OAUTH_SCOPES.join(', ')}`).choices(OAUTH_SCOPES).makeOptionMandatory())
    .option('--client-credentials', 'it may also act for itself (client credentials; no home data)')
    .action(async (name: string, opts) => {
      const made = await clientFor(opts).call<IntegrationView & { clientSecret: string }>('POST', '/api/v1/integrations', {
        name,
        redirectUris: opts.redirectUri ?? [],
        scopes: opts.scopes,
        ...(opts.clientCredentials ? { clientCredentials: true } : {}),
      });
      console.log(`integration ${made.name}`);
      console.log(`client id:     ${made.clientId}`);
      console.log(`client secret: ${made.clientSecret}   (shown once; it authenticates with client_secret_basic)`);
      console.log(`scopes:        ${made.scopes.join(' ')}`);
      console.log(`grant types:   ${made.grantTypes.join(' ')}`);
      console.log('Its access tokens are DPoP-bound (RFC 9449); discovery: <API>/.well-known/oauth-authorization-server/oauth');
    });

  withApiOptions(integration.command('list'))
    .description('the registered integrations')
    .action(async (opts) => {
      const { integrations } = await clientFor(opts).call<{ integrations: IntegrationView[] }>('GET', '/api/v1/integrations');
      if (integrations.length === 0) console.log('no integrations');
      for (const i of integrations) console.log(`${i.clientId}  ${i.name}  ${i.scopes.join(' ')}${i.removedAt ? `  removed ${i.removedAt}` : ''}`);
    });

  withApiOptions(integration.command('remove <client-id>'))
    .description('remove an integration: no more tokens, and every grant it holds is revoked')
    .action(async (clientId: string, opts) => {
      const outcome = await clientFor(opts).call<{ revokedGrants: number }>('DELETE', `/api/v1/integrations/${encodeURIComponent(clientId)}`);
      console.log(`removed ${clientId}; revoked ${outcome.revokedGrants} grant(s)`);
    });

  const grants = program.command('grants').description('what homeowners granted integrations: the scope audit');

  withApiOptions(grants.command('list'))
    .description('grants, newest first')
    .option('--home <id>', 'only grants on this home')
    .option('--integration <client-id>', "only this integration's grants")
    .option('--account <id>', "only this homeowner's grants")
    .action(async (opts) => {
      const query = new URLSearchParams();
      if (opts.home) query.set('home', opts.home);
      if (opts.integration) query.set('integration', opts.integration);
      if (opts.account) query.set('account', opts.account);
      const { grants: list } = await clientFor(opts).call<{ grants: GrantView[] }>('GET', `/api/v1/grants${query.size > 0 ? `?${query}` : ''}`);
      if (list.length === 0) console.log('no grants');
      for (const g of list) {
        const state = g.revokedAt ? `revoked ${g.revokedAt} (${g.revokedReason})` : 'active';
        console.log(`${g.id}  ${g.integration}  ${g.account ?? '(itself)'}  homes ${g.homes.join(',') || '-'}  ${g.scopes.join(' ')}  ${state}`);
      }
    });

  withApiOptions(grants.command('revoke <grant-id>'))
    .description("revoke a grant: the integration's tokens under it stop working at once")
    .action(async (grantId: string, opts) => {
      await clientFor(opts).call('DELETE', `/api/v1/grants/${encodeURIComponent(grantId)}`);
      console.log(`revoked grant ${grantId}`);
    });
}
