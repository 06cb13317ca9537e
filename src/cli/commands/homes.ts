/** `hearth home create | list | show | add-member | remove-member | invite | devices | forget`: homes as tenants (talks to `hearth serve`). */
import type { Command } from '@commander-js/extra-typings';
import { clientFor, withApiOptions } from '../api-connection.js';

interface HomeView {
  id: string;
  name: string;
  createdAt: string;
  members?: { account: string; addedAt: string }[];
}

const path = (home: string) => `/api/v1/homes/${encodeURIComponent(home)}`;

export function registerHomeCommands(program: Command): void {
  const home = program
    .command('home')
    .description('homes: the tenants homeowners belong to and devices are claimed into (talks to `hearth serve`; token from HEARTH_TOKEN)');

  withApiOptions(home.command('create <id>'))
    .description('make a home (id: 1-64 letters, digits, ".", "_", "-")')
    .option('--name <name>', 'a display name')
    .action(async (id: string, opts) => {
      const made = await clientFor(opts).call<HomeView>('POST', '/api/v1/homes', { id, ...(opts.name !== undefined ? { name: opts.name } : {}) });
      console.log(`home ${made.id} (${made.name}) created`);
    });

  withApiOptions(home.command('list'))
    .description('the homes the token may see')
    .action(async (opts) => {
      const { homes } = await clientFor(opts).call<{ homes: HomeView[] }>('GET', '/api/v1/homes');
      if (homes.length === 0) console.log('no homes');
      for (const h of homes) console.log(`${h.id}  ${h.name}  created ${h.createdAt}`);
    });

  withApiOptions(home.command('show <id>'))
    .description('a home and its members')
    .action(async (id: string, opts) => {
      const h = await clientFor(opts).call<HomeView>('GET', path(id));
      console.log(`${h.id}  ${h.name}  created ${h.createdAt}`);
      for (const m of h.members ?? []) console.log(`  member ${m.account} since ${m.addedAt}`);
    });

  withApiOptions(home.command('add-member <id> <account>'))
    .description('add a homeowner account to the home (made on first use)')
    .option('--name <name>', "the account's display name")
    .action(async (id: string, account: string, opts) => {
      await clientFor(opts).call('POST', `${path(id)}/members`, { account, ...(opts.name !== undefined ? { name: opts.name } : {}) });
      console.log(`${account} is a member of ${id}`);
    });

  withApiOptions(home.command('remove-member <id> <account>'))
    .description('remove an account from the home')
    .action(async (id: string, account: string, opts) => {
      await clientFor(opts).call('DELETE', `${path(id)}/members/${encodeURIComponent(account)}`);
      console.log(`${account} is no longer a member of ${id}`);
    });

  withApiOptions(home.command('invite <id> <account>'))
    .description('make a one-time link (valid 72 hours) with which a member of the home registers a passkey and signs in on the /account/ pages')
    .action(async (id: string, account: string, opts) => {
      const made = await clientFor(opts).call<{ url: string; expiresAt: string }>('POST', `${path(id)}/members/${encodeURIComponent(account)}/invitations`);
      console.log(`give ${account} this link (it works once, until ${made.expiresAt}):`);
      console.log(made.url);
    });

  withApiOptions(home.command('devices <id>'))
    .description('the devices claimed into the home')
    .action(async (id: string, opts) => {
      const { devices } = await clientFor(opts).call<{ devices: { deviceId: string; model: string; state: string; claimedAt: string | null }[] }>(
        'GET',
        `${path(id)}/devices`,
      );
      if (devices.length === 0) console.log('no devices claimed');
      for (const d of devices) console.log(`${d.deviceId}  ${d.model}  ${d.state}  claimed ${d.claimedAt ?? '-'}`);
    });

  withApiOptions(home.command('forget <id>'))
    .description("forget the home: its members, homeowner tokens, claims and stored messages; the transparency log's leaves hold no home and stay")
    .action(async (id: string, opts) => {
      const outcome = await clientFor(opts).call<{
        members: number;
        tokens: number;
        claims: number;
        gateways: number;
        telemetry: number;
        commands: number;
        grants: number;
      }>('DELETE', path(id));
      console.log(
        `forgot home ${id}: ${outcome.members} member(s), ${outcome.tokens} token(s), ${outcome.claims} claim(s) released, ${outcome.gateways} gateway(s) unassigned, ${outcome.telemetry} message(s) and ${outcome.commands} command(s) deleted, ${outcome.grants} grant(s) withdrawn`,
      );
    });
}
