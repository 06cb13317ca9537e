/** `hearth gateways register | list | retire | detach`: the registered home gateways (talks to `hearth serve`). */
import { writeFileSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';
import { clientFor, withApiOptions } from '../api-connection.js';

interface GatewayView {
  name: string;
  status: string;
  eabKid: string;
  createdAt: string;
  retiredAt: string | null;
}

export function registerGatewaysCommands(program: Command): void {
  const gateways = program.command('gateways').description('register and retire home gateways (talks to `hearth serve`; token from HEARTH_TOKEN)');

  withApiOptions(gateways.command('register <name>'))
    .description('register a gateway by the DNS name devices reach it by; prints the external account binding key it enrolls with')
    .option('--home <id>', 'the home the gateway serves (hearth home create); devices claimed into it are its to report')
    .option('--hmac-key-out <file>', 'write the MAC key to this file (mode 0600) instead of printing it; give the file to `hearth gateway --eab-hmac-key-file`')
    .action(async (name: string, opts) => {
      const registered = await clientFor(opts).call<GatewayView & { hmacKey: string }>('POST', '/api/v1/gateways', {
        name,
        ...(opts.home !== undefined ? { home: opts.home } : {}),
      });
      console.log(`registered gateway ${registered.name}`);
      console.log(`kid:      ${registered.eabKid}`);
      if (opts.hmacKeyOut) {
        writeFileSync(opts.hmacKeyOut, `${registered.hmacKey}\n`, { mode: 0o600, flag: 'wx' });
        console.log(`hmac key: written to ${opts.hmacKeyOut}`);
      } else {
        console.log(`hmac key: ${registered.hmacKey}`);
      }
      console.log('');
      console.log('The gateway enrolls with them once; its ACME account is then the only one that gets gateway certificates for this name:');
      console.log(`  hearth gateway --name ${registered.name} --eab-kid ${registered.eabKid} --eab-hmac-key-file <file holding the hmac key> ...`);
    });

  withApiOptions(gateways.command('list'))
    .description('the registered gateways')
    .action(async (opts) => {
      const { gateways: list } = await clientFor(opts).call<{ gateways: GatewayView[] }>('GET', '/api/v1/gateways');
      if (list.length === 0) console.log('no gateways registered');
      for (const g of list) console.log(`${g.name}  ${g.status}  registered ${g.createdAt}${g.retiredAt ? `  retired ${g.retiredAt}` : ''}`);
    });

  withApiOptions(gateways.command('retire <name>'))
    .description('retire a gateway: its certificates are revoked and its devices detached')
    .action(async (name: string, opts) => {
      const outcome = await clientFor(opts).call<{ revoked: string[]; detached: number }>('DELETE', `/api/v1/gateways/${encodeURIComponent(name)}`);
      console.log(
        `retired ${name}: revoked ${outcome.revoked.length} certificate(s)${outcome.revoked.length ? ` (${outcome.revoked.join(', ')})` : ''}, detached ${outcome.detached} device(s)`,
      );
    });

  withApiOptions(gateways.command('detach <device-id>'))
    .description('detach a device from its gateway (it moved home): the next registered gateway to report it gets it')
    .action(async (deviceId: string, opts) => {
      await clientFor(opts).call('DELETE', `/api/v1/devices/${encodeURIComponent(deviceId)}/attachment`);
      console.log(`detached ${deviceId}`);
    });
}
