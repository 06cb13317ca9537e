/**
 * `hearth manufacturer | enroll | device | security`: the operator's side of zero-touch
 * provisioning, over the REST API (token from HEARTH_TOKEN).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import type { ImportOutcome } from '../../provisioning/manifest-import.js';
import { clientFor, withApiOptions } from '../api-connection.js';
import { choiceArgument, choiceOption } from '../choices.js';
import { registerSimulateCommand } from './simulate.js';

interface ManufacturerView {
  name: string;
  manifestKeySha256: string;
  allowAnyDevice: boolean;
  legacyAttestationCertificates: boolean;
  roots: { sha256: string; subject: string; notAfter: string }[];
}

const ON_OFF = ['on', 'off'];

function printManufacturer(m: ManufacturerView): void {
  console.log(`${m.name}`);
  console.log(`  manifest key SHA-256  ${m.manifestKeySha256}`);
  console.log(`  enrollment group      ${m.allowAnyDevice ? 'on: any device under its roots may enroll' : 'off: only devices in imported manifests'}`);
  if (m.legacyAttestationCertificates)
    console.log('  legacy attestation    on: factory certificates failing WebAuthn 8.2.1 are admitted (a warning is logged each time)');
  for (const root of m.roots) console.log(`  root ${root.sha256}  ${root.subject}  (until ${root.notAfter})`);
}

/** A manifest given as the batch directory or as manifest.json (manifest.sig beside it). */
function manifestFiles(path: string, signature?: string): { manifest: string; signature: string } {
  const manifest = existsSync(path) && statSync(path).isDirectory() ? join(path, 'manifest.json') : path;
  return { manifest, signature: signature ?? join(manifest, '..', 'manifest.sig') };
}

export function registerProvisioningCommands(program: Command): void {
  const manufacturer = program.command('manufacturer').description('register device manufacturers: their attestation roots and manifest keys');

  withApiOptions(manufacturer.command('add <name>'))
    .description('register a manufacturer from the files `hearth factory init` gave it (root.pem, manifest-key.pub)')
    .requiredOption('--root <file>', 'attestation root certificate(s), PEM')
    .requiredOption('--manifest-key <file>', 'Ed25519 manifest public key, PEM')
    .option('--allow-any-device', 'enrollment group: any device whose factory certificate chains to the root may enroll, manifest or not')
    .option(
      '--legacy-attestation-certificates',
      'admit factory certificates that fail WebAuthn 8.2.1 (subject C, O, OU "Authenticator Attestation", CN; CA false), for fleets made before Hearth asked for them; each one admitted is logged',
    )
    .action(async (name: string, opts) => {
      const created = await clientFor(opts).call<ManufacturerView>('POST', '/api/v1/manufacturers', {
        name,
        rootsPem: readFileSync(opts.root, 'utf8'),
        manifestKeyPem: readFileSync(opts.manifestKey, 'utf8'),
        ...(opts.allowAnyDevice ? { allowAnyDevice: true } : {}),
        ...(opts.legacyAttestationCertificates ? { legacyAttestationCertificates: true } : {}),
      });
      console.log('registered');
      printManufacturer(created);
      console.log('Compare both SHA-256 values with the ones the manufacturer gave you out of band.');
    });

  withApiOptions(manufacturer.command('list'))
    .description('list registered manufacturers')
    .action(async (opts) => {
      const { manufacturers } = await clientFor(opts).call<{ manufacturers: ManufacturerView[] }>('GET', '/api/v1/manufacturers');
      if (manufacturers.length === 0) console.log('no manufacturers registered (hearth manufacturer add)');
      manufacturers.forEach(printManufacturer);
    });

  withApiOptions(manufacturer.command('add-root <name>'))
    .description('add attestation root certificate(s) to a manufacturer')
    .requiredOption('--root <file>', 'root certificate(s), PEM')
    .action(async (name: string, opts) => {
      printManufacturer(
        await clientFor(opts).call<ManufacturerView>('POST', `/api/v1/manufacturers/${encodeURIComponent(name)}/roots`, {
          rootsPem: readFileSync(opts.root, 'utf8'),
        }),
      );
    });

  withApiOptions(manufacturer.command('group <name>'))
    .addArgument(choiceArgument('<state>', 'on or off', ON_OFF))
    .description("turn the manufacturer's enrollment group on or off")
    .action(async (name: string, state: string, opts) => {
      printManufacturer(
        await clientFor(opts).call<ManufacturerView>('PATCH', `/api/v1/manufacturers/${encodeURIComponent(name)}`, { allowAnyDevice: state === 'on' }),
      );
    });

  withApiOptions(manufacturer.command('legacy-attestation <name>'))
    .addArgument(choiceArgument('<state>', 'on or off', ON_OFF))
    .description('turn the WebAuthn 8.2.1 opt-out for legacy factory certificates on or off')
    .action(async (name: string, state: string, opts) => {
      printManufacturer(
        await clientFor(opts).call<ManufacturerView>('PATCH', `/api/v1/manufacturers/${encodeURIComponent(name)}`, {
          legacyAttestationCertificates: state === 'on',
        }),
      );
    });

  withApiOptions(manufacturer.command('revoke-factory-cert <name> <cert>'))
    .description(
      'revoke a factory certificate (a PEM file, or the SHA-256 of its DER): the device is cut off at once (its live certificates revoked) and can no longer enroll or renew',
    )
    .addOption(
      choiceOption('--reason <reason>', 'RFC 5280 reason, given to the device certificates too', ['keyCompromise', 'cessationOfOperation']).default(
        'keyCompromise',
      ),
    )
    .action(async (name: string, cert: string, opts) => {
      const digest = /^[0-9a-fA-F]{64}$/.test(cert)
        ? cert
        : createHash('sha256')
            .update(new X509Certificate(readFileSync(cert)).raw)
            .digest('hex');
      const outcome = await clientFor(opts).call<{ revoked: boolean; devices: string[]; revokedCertificates: string[] }>(
        'POST',
        `/api/v1/manufacturers/${encodeURIComponent(name)}/revoked-certificates`,
        { certificateSha256: digest, reason: opts.reason },
      );
      console.log(outcome.revoked ? `revoked factory certificate ${digest} (${opts.reason})` : `factory certificate ${digest} was revoked already`);
      for (const device of outcome.devices) console.log(`cut off ${device}`);
      if (outcome.revokedCertificates.length > 0) console.log(`revoked its certificates ${outcome.revokedCertificates.join(', ')} (${opts.reason})`);
    });

  withApiOptions(manufacturer.command('model <name> <model>'))
    .description("set a model's MUD URL (RFC 8520), which its devices' certificates then carry")
    .option('--mud-url <url>', 'https URL of the MUD file')
    .option('--no-mud-url', 'remove the MUD URL')
    .action(async (name: string, model: string, opts) => {
      const result = await clientFor(opts).call<{ mudUrl: string | null }>(
        'PUT',
        `/api/v1/manufacturers/${encodeURIComponent(name)}/models/${encodeURIComponent(model)}`,
        {
          mudUrl: typeof opts.mudUrl === 'string' ? opts.mudUrl : null,
        },
      );
      console.log(`${name} ${model}: MUD URL ${result.mudUrl ?? '(none)'}`);
    });

  const enroll = program.command('enroll').description('import factory manifests: the devices Hearth should expect');
  withApiOptions(enroll.command('import <manifest>'))
    .description('import a batch manifest (the batch directory, or manifest.json with manifest.sig beside it)')
    .option('--signature <file>', 'the signature file, if not manifest.sig beside the manifest')
    .action(async (path: string, opts) => {
      const files = manifestFiles(path, opts.signature);
      const outcome = await clientFor(opts).call<ImportOutcome>('POST', '/api/v1/manifests', {
        manifest: readFileSync(files.manifest).toString('base64'),
        signature: readFileSync(files.signature).toString('base64'),
      });
      if (outcome.imported)
        console.log(
          `imported batch ${outcome.batchId}: ${outcome.devices} ${outcome.manufacturer} ${outcome.model} devices expected (log entry ${outcome.logIndex})`,
        );
      else console.log(`batch ${outcome.batchId} was imported before; nothing changed`);
    });

  const device = program.command('device').description('devices: enrollment state, claims by homes');
  withApiOptions(device.command('show <device-id>'))
    .description("show a device's enrollment")
    .action(async (id: string, opts) => {
      console.log(JSON.stringify(await clientFor(opts).call('GET', `/api/v1/devices/${encodeURIComponent(id)}`), null, 2));
    });
  withApiOptions(device.command('claim <device-id>'))
    .description('claim a device for a home with the setup code on its label')
    .requiredOption('--home <id>', 'the home that claims it')
    .requiredOption('--code <code>', "setup code (XXXXX-XXXXX) or the label's QR payload")
    .action(async (id: string, opts) => {
      // The QR payload is HEARTH:1:<serial>:<code>; the code is its last field.
      const code = opts.code.startsWith('HEARTH:') ? opts.code.split(':').pop() : opts.code;
      const outcome = await clientFor(opts).call<{ deviceId: string; home: string; claimedAt: string }>(
        'POST',
        `/api/v1/devices/${encodeURIComponent(id)}/claim`,
        { home: opts.home, setupCode: code },
      );
      console.log(`${outcome.deviceId} belongs to home ${outcome.home} since ${outcome.claimedAt}`);
    });
  withApiOptions(device.command('release <device-id>'))
    .description('release a device from its home, so another home can claim it')
    .requiredOption('--home <id>', 'the home that holds it')
    .action(async (id: string, opts) => {
      await clientFor(opts).call('POST', `/api/v1/devices/${encodeURIComponent(id)}/release`, { home: opts.home });
      console.log(`${id} released from home ${opts.home}`);
    });

  registerSimulateCommand(device);

  const security = program.command('security').description('security events');
  withApiOptions(security.command('events'))
    .description('list security events, newest first')
    .option('--type <type>', 'only this type, e.g. security.clone_suspected')
    .option('--device <id>', 'only this device')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts) => {
      const query = new URLSearchParams({ limit: opts.limit, ...(opts.type ? { type: opts.type } : {}), ...(opts.device ? { device: opts.device } : {}) });
      const { events } = await clientFor(opts).call<{ events: { createdAt: string; type: string; deviceId: string | null; detail: unknown }[] }>(
        'GET',
        `/api/v1/security-events?${query}`,
      );
      for (const event of events) console.log(`${event.createdAt}  ${event.type}  ${event.deviceId ?? '-'}  ${JSON.stringify(event.detail)}`);
      if (events.length === 0) console.log('no security events');
    });
}
