/** `hearth acme eab-key | eab-withdraw`: external account binding keys for the ACME server. */
import type { Command } from '@commander-js/extra-typings';
import { clientFor } from '../api-connection.js';

export function registerAcmeCommands(program: Command): void {
  const acme = program.command('acme').description('administer the ACME server (talks to `hearth serve`; admin token from HEARTH_TOKEN)');

  acme
    .command('eab-key')
    .description('make an external account binding key: a kid and an HMAC key that bind one new ACME account')
    .option('--policy <name>', 'identifier policy (acme.policies) the bound account gets; acme.defaultPolicy when absent')
    .option('--dir <dir>', 'data directory (for the root certificate and the API address)')
    .option('--url <url>', 'API base URL')
    .action(async (opts) => {
      const key = await clientFor(opts).call<{ kid: string; hmacKey: string; policy: string | null }>(
        'POST',
        '/api/v1/acme/eab-keys',
        opts.policy ? { policy: opts.policy } : {},
      );
      console.log(`kid:      ${key.kid}`);
      console.log(`hmac key: ${key.hmacKey}`);
      console.log(`policy:   ${key.policy ?? '(default)'}`);
      console.log('');
      console.log('Give both to one subscriber; the key binds the first account made with it. For example:');
      console.log(`  certbot register --eab-kid ${key.kid} --eab-hmac-key <hmac key> ...`);
      console.log(`  lego --eab --kid ${key.kid} --hmac <hmac key> ...`);
    });

  acme
    .command('eab-withdraw <kid>')
    .description('withdraw an external account binding key that no account has bound yet')
    .option('--dir <dir>', 'data directory (for the root certificate and the API address)')
    .option('--url <url>', 'API base URL')
    .action(async (kid: string, opts) => {
      await clientFor(opts).call('DELETE', `/api/v1/acme/eab-keys/${encodeURIComponent(kid)}`);
      console.log(`withdrew ${kid}`);
    });
}
