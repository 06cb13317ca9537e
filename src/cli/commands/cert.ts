/** `hearth cert issue|show|revoke|list|renew-early`: the certificate resources of the REST API. */
import { readFileSync, writeFileSync } from 'node:fs';
import { Option, type Command } from '@commander-js/extra-typings';
import { ISSUING_CAS } from '../../core/data-dir-layout.js';
import { REQUESTABLE_REVOCATION_REASONS } from '../../pki/revocation-reason.js';
import { clientFor, withApiOptions } from '../api-connection.js';
import { choiceOption } from '../choices.js';

const PROFILES = ['device', 'gateway', 'service'];
const STATES = ['pending', 'issued', 'revoked'];

interface CertificateView {
  serial: string;
  ca: string;
  profile: string;
  identifier: string;
  state: string;
  notBefore: string;
  notAfter: string;
  revokedAt: string | null;
  revocationReason: string | null;
  certificate: string | null;
  chain?: string;
}

export function registerCertCommands(program: Command): void {
  const cert = program.command('cert').description('issue, show, revoke and list certificates (talks to `hearth serve`; token from HEARTH_TOKEN)');

  withApiOptions(cert.command('issue'))
    .description('issue a certificate from a PKCS#10 CSR')
    .requiredOption('--csr <file>', 'CSR in PEM')
    .addOption(choiceOption('--profile <profile>', 'certificate profile', PROFILES).makeOptionMandatory())
    .option('--out <file>', 'write certificate + chain PEM here instead of stdout')
    .action(async (opts) => {
      const view = await clientFor(opts).call<CertificateView>('POST', '/api/v1/certificates', { csr: readFileSync(opts.csr, 'utf8'), profile: opts.profile });
      const pem = `${view.certificate ?? ''}${view.chain ?? ''}`;
      if (opts.out) {
        writeFileSync(opts.out, pem);
        console.log(`issued ${view.serial} for ${view.identifier}, valid until ${view.notAfter}; written to ${opts.out}`);
      } else process.stdout.write(pem);
    });

  withApiOptions(cert.command('show <serial>'))
    .description('show a certificate')
    .option('--pem', 'print only the PEM')
    .action(async (serial: string, opts) => {
      const view = await clientFor(opts).call<CertificateView>('GET', `/api/v1/certificates/${encodeURIComponent(serial)}`);
      if (opts.pem) process.stdout.write(view.certificate ?? '');
      else console.log(JSON.stringify({ ...view, certificate: undefined }, null, 2));
    });

  withApiOptions(cert.command('revoke <serial>'))
    .description('revoke a certificate')
    .addOption(choiceOption('--reason <reason>', 'RFC 5280 reason', REQUESTABLE_REVOCATION_REASONS).default('unspecified'))
    .action(async (serial: string, opts) => {
      const view = await clientFor(opts).call<CertificateView>('POST', `/api/v1/certificates/${encodeURIComponent(serial)}/revoke`, { reason: opts.reason });
      console.log(`revoked ${view.serial} (${view.identifier}) at ${view.revokedAt}, reason ${view.revocationReason}`);
    });

  withApiOptions(cert.command('list'))
    .description('list certificates')
    .option('--identifier <id>', 'only this identifier')
    .addOption(choiceOption('--state <state>', 'only certificates in this state', STATES))
    .addOption(choiceOption('--ca <ca>', 'only certificates of this issuing CA', ISSUING_CAS))
    .option('--limit <n>', 'page size', '100')
    .option('--after <serial>', 'continue after this serial')
    .action(async (opts) => {
      const query = new URLSearchParams();
      for (const key of ['identifier', 'state', 'ca', 'limit', 'after'] as const) if (opts[key]) query.set(key, opts[key]);
      const page = await clientFor(opts).call<{ items: CertificateView[]; next: string | null }>('GET', `/api/v1/certificates?${query}`);
      const serialWidth = Math.max('serial'.length, ...page.items.map((item) => item.serial.length));
      const line = (serial: string, state: string, profile: string, notAfter: string, identifier: string) =>
        `${serial.padEnd(serialWidth)}  ${state.padEnd(8)} ${profile.padEnd(8)} ${notAfter.padEnd(24)}  ${identifier}`;
      console.log(line('serial', 'state', 'profile', 'not after', 'identifier'));
      for (const item of page.items) console.log(line(item.serial, item.state, item.profile, item.notAfter, item.identifier));
      if (page.next) console.log(`more: --after ${page.next}`);
    });

  withApiOptions(cert.command('renew-early [serials...]'))
    .description(
      'ask ACME clients to renew now: move the renewal window (RFC 9773) of the named certificates, or of all of one CA, to the next --within seconds',
    )
    .addOption(choiceOption('--ca <ca>', 'every live certificate of this CA instead of named serials', ISSUING_CAS))
    .option('--issued-before <time>', 'with --ca: only certificates issued before this ISO 8601 time')
    // Parsed as before, not checked: the API says which spans it takes. The default is shown in
    // --help as the text it stands for, as when it was a string.
    .addOption(
      new Option('--within <seconds>', 'spread the renewals over this many seconds from now').argParser((value) => Number(value)).default(3600, '"3600"'),
    )
    .option('--explanation <url>', 'an https URL shown to subscribers as the reason')
    .action(async (serials: string[], opts) => {
      const body = {
        ...(serials.length > 0 ? { serials } : {}),
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.issuedBefore ? { issuedBefore: opts.issuedBefore } : {}),
        withinSeconds: opts.within,
        ...(opts.explanation ? { explanationUrl: opts.explanation } : {}),
      };
      const result = await clientFor(opts).call<{ updated: number; window: { start: string; end: string } }>('POST', '/api/v1/renewal-windows', body);
      console.log(`${result.updated} certificate(s) to renew between ${result.window.start} and ${result.window.end}`);
    });
}
