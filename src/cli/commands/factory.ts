/**
 * `hearth factory`: the manufacturer's offline tools for zero-touch provisioning. They never talk
 * to a control plane: `init` makes the attestation hierarchy and manifest key once, `batch` runs
 * on the factory line. What reaches the operator is root.pem, manifest-key.pub and each batch's
 * manifest.json with manifest.sig.
 */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { systemClock } from '../../core/clock.js';
import { readPassphrase, type PassphraseSource } from '../../keys/passphrase.js';
import { makeBatch } from '../../provisioning/factory/factory-batch.js';
import { createFactory } from '../../provisioning/factory/factory-directory.js';
import { FactoryError } from '../../provisioning/factory/factory-error.js';
import { checkCountry, checkManufacturer, checkOrganization, checkSerial, parseBatchCount } from '../../provisioning/factory/factory-names.js';
import { ProgressBar } from '../progress-bar.js';

const DEFAULT_PASSPHRASE_ENV = 'HEARTH_FACTORY_PASSPHRASE';
/** Below this a batch is over before a progress bar would help. */
const PROGRESS_MIN_COUNT = 50;

/**
 * Unlike `hearth init` no passphrase is ever generated: a factory's keys outlive the laptop that
 * made them, and a passphrase file beside them would protect nothing.
 */
function factoryPassphrase(opts: { passphraseEnv?: string; passphraseFile?: string }): string {
  if (opts.passphraseEnv && opts.passphraseFile) throw new FactoryError('give either --passphrase-env or --passphrase-file, not both', 'passphrase');
  let source: PassphraseSource;
  if (opts.passphraseEnv) source = { env: opts.passphraseEnv };
  else if (opts.passphraseFile) source = { file: resolve(opts.passphraseFile) };
  else if (process.env[DEFAULT_PASSPHRASE_ENV] !== undefined) source = { env: DEFAULT_PASSPHRASE_ENV };
  else
    throw new FactoryError(
      `the factory keys need a passphrase: set ${DEFAULT_PASSPHRASE_ENV}, or give --passphrase-env VAR or --passphrase-file FILE`,
      'passphrase',
    );
  return readPassphrase(source);
}

/** A one-line bar redrawn in place, at most every 100 ms and on the last device. */
export function registerFactoryCommands(program: Command): void {
  const factory = program
    .command('factory')
    .description("manufacturer's offline tools: attestation CA, manifest key and device batches for zero-touch provisioning");

  factory
    .command('init')
    .description(
      'once per manufacturer, offline: attestation root CA (P-384, 30 years), intermediate (20 years) and Ed25519 manifest key, keys encrypted at rest',
    )
    .requiredOption(
      '--manufacturer <name>',
      'manufacturer name: letters, digits, ".", "_", "~" (the vendor in device identifiers urn:dev:ops:<vendor>-<model>-<serial>)',
    )
    .requiredOption('--out <dir>', 'new or empty directory for the factory')
    .option(
      '--country <CC>',
      "ISO 3166-1 alpha-2 code of the vendor's country: subject C of every factory certificate (WebAuthn 8.2.1); batches need it here or in their own --country",
    )
    .option('--organization <name>', "the vendor's legal name: subject O of every factory certificate (default: the manufacturer name)")
    .option('--passphrase-env <VAR>', `env var holding the key passphrase (default ${DEFAULT_PASSPHRASE_ENV})`)
    .option('--passphrase-file <file>', 'file (mode 0600) holding the key passphrase')
    .action(async (opts) => {
      checkManufacturer(opts.manufacturer);
      if (opts.country !== undefined) checkCountry(opts.country);
      if (opts.organization !== undefined) checkOrganization(opts.organization);
      const passphrase = factoryPassphrase(opts);
      const dir = resolve(opts.out);
      const created = await createFactory(dir, opts.manufacturer, passphrase, systemClock, { country: opts.country, organization: opts.organization });
      const { files } = created.description;
      console.log(`Created the factory of ${opts.manufacturer} in ${dir}`);
      console.log(`  attestation root CA    ${files.root}  (SHA-256 ${created.rootSha256})`);
      console.log(`  intermediate CA        ${files.intermediate}`);
      console.log(`  manifest key           ${files.manifestPublicKey}  (SHA-256 of its SPKI ${created.manifestKeySha256})`);
      console.log(`  encrypted keys         ${files.rootKey}, ${files.intermediateKey}, ${files.manifestKey}`);
      console.log('');
      console.log(`Hand ${files.root} and ${files.manifestPublicKey} to the operator and confirm both SHA-256 values out of band.`);
      console.log(`Keep ${files.rootKey} offline: batches need only the intermediate and manifest keys.`);
    });

  factory
    .command('batch')
    .description('one factory run: a P-256 factory key, factory certificate and setup code per device, and a signed manifest of the batch')
    .requiredOption('--dir <dir>', 'the factory directory made by hearth factory init')
    .requiredOption('--model <model>', 'device model: letters, digits, ".", "_", "~", at most 24')
    .requiredOption('--count <n>', 'number of devices, 1..100000', parseBatchCount)
    .requiredOption('--out <dir>', 'new or empty directory for the batch')
    .option(
      '--country <CC>',
      "subject C of the factory certificates (WebAuthn 8.2.1), ISO 3166-1 alpha-2 (default: the factory's, from hearth factory init --country)",
    )
    .option('--organization <name>', "subject O of the factory certificates (default: the factory's, else the manufacturer name)")
    .option('--first-serial <serial>', 'first device serial; the trailing digits count up (default: a random 8-character prefix and -000001)')
    .option('--passphrase-env <VAR>', `env var holding the key passphrase (default ${DEFAULT_PASSPHRASE_ENV})`)
    .option('--passphrase-file <file>', 'file (mode 0600) holding the key passphrase')
    .addHelpText(
      'after',
      "\nDevice keys are written unencrypted (mode 0600) to <out>/devices/<serial>/key.pem so simulated devices can use them.\nA real factory generates the key inside each device's secure element and never writes it out.",
    )
    .action(async (opts) => {
      const count = opts.count;
      if (opts.firstSerial !== undefined) checkSerial(opts.firstSerial);
      const passphrase = factoryPassphrase(opts);
      const out = resolve(opts.out);
      const bar = process.stderr.isTTY && count >= PROGRESS_MIN_COUNT ? new ProgressBar(count) : undefined;
      const onProgress = bar
        ? (done: number) => {
            bar.update(done, 'devices');
            if (done === count) bar.finish();
          }
        : undefined;
      const result = await makeBatch({
        factoryDir: resolve(opts.dir),
        outDir: out,
        model: opts.model,
        count,
        firstSerial: opts.firstSerial,
        country: opts.country,
        organization: opts.organization,
        passphrase,
        clock: systemClock,
        onProgress,
      });
      const serials = result.serials;
      console.log(`Made ${count} ${result.manifest.model} device${count === 1 ? '' : 's'} of ${result.manifest.manufacturer} in ${out}`);
      console.log(`  serials        ${serials[0]}${count > 1 ? ` .. ${serials[serials.length - 1]}` : ''}`);
      console.log(`  manifest       ${result.manifestPath} (batch ${result.manifest.batchId})`);
      console.log(`  signature      ${result.signaturePath}`);
      console.log(`  setup codes    ${result.labelsPath} and devices/<serial>/setup-code.txt`);
    });
}
