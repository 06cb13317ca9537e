/**
 * `hearth device simulate`: a fleet of simulated devices from a factory batch that enroll
 * zero-touch against the control plane and then renew on schedule, with a progress bar and a
 * final table (enrolled, failed by reason, time to first certificate).
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from '@commander-js/extra-typings';
import { readBatchDevices } from '../../device/factory-credentials.js';
import { runFleet, type FleetRun } from '../../device/fleet-runner.js';
import { summarize, type FleetSummary } from '../../device/fleet-simulator.js';
import { dataDirFrom, readInstallation } from '../installation.js';
import { ProgressBar } from '../progress-bar.js';

/** The parser of a --<name> that takes a whole number of at least `least`; refusing anything else stops the command with `hearth: <message>`. */
function wholeNumber(name: string, least = 1): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < least) throw new Error(`--${name} must be a whole number of at least ${least}`);
    return n;
  };
}

export function printSummary(summary: FleetSummary, out: (line: string) => void = console.log): void {
  out('');
  out(`  devices            ${summary.devices}`);
  out(`  enrolled           ${summary.enrolled}`);
  const reasons = Object.entries(summary.failed).sort((a, b) => b[1] - a[1]);
  out(`  failed             ${summary.devices - summary.enrolled}${reasons.length ? `  (${reasons.map(([r, n]) => `${r}: ${n}`).join(', ')})` : ''}`);
  out(`  first certificate  p50 ${summary.p50Ms.toFixed(0)} ms, p99 ${summary.p99Ms.toFixed(0)} ms`);
  out(`  wall time          ${summary.seconds.toFixed(1)} s (${summary.perSecond.toFixed(1)} devices/s)`);
}

export function registerSimulateCommand(device: Command): void {
  device
    .command('simulate')
    .description('run simulated devices from a factory batch: they enroll zero-touch (device-attest-01) and renew on schedule')
    .requiredOption('--manifest <dir>', 'the batch directory `hearth factory batch` wrote (manifest.json, devices/)')
    .option('--count <n>', 'how many of the batch devices to run (default: all)', wholeNumber('count'))
    .option('--dir <dir>', 'data directory of the control plane (its root certificate and API address)')
    .option('--url <url>', 'ACME directory URL (default: https://<publicHost>:<apiPort>/acme/directory)')
    .option('--ca <file>', 'CA certificate that signs the control plane TLS certificate (default: the data directory root)')
    // The defaults are shown in --help as the text they stand for, as when they were strings.
    .addOption(new Option('--concurrency <n>', 'enrollments in flight at once').argParser(wholeNumber('concurrency')).default(32, '"32"'))
    .addOption(new Option('--workers <n>', 'worker threads (0: all on the main thread)').argParser(wholeNumber('workers', 0)).default(0, '"0"'))
    .option('--state-dir <dir>', 'keep each device identity in <dir>/<serial>/ (keys 0600) instead of memory')
    .option('--enroll-only', 'exit after enrollment instead of renewing until Ctrl-C')
    .option('--json', 'print the summary as JSON')
    .action(async (opts) => {
      const batch = readBatchDevices(opts.manifest);
      const count = opts.count === undefined ? batch.devices.length : Math.min(opts.count, batch.devices.length);
      let directoryUrl = opts.url;
      let caPem: string | undefined = opts.ca ? readFileSync(opts.ca, 'utf8') : undefined;
      if (!directoryUrl || !caPem) {
        const { layout, config } = readInstallation(dataDirFrom(opts.dir));
        directoryUrl ??= `${process.env.HEARTH_URL ?? `https://${config.server.publicHost}:${config.server.apiPort}`}/acme/directory`;
        caPem ??= readFileSync(layout.caCertificate('root'), 'utf8');
      }
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort(new Error('interrupted')));
      const bar = new ProgressBar(count);
      let ok = 0;
      let failed = 0;
      let renewals = 0;
      const report = (run: FleetRun) => {
        bar.finish();
        const summary = summarize(run.outcomes, run.seconds);
        if (opts.json) console.log(JSON.stringify(summary));
        else printSummary(summary);
        if (!opts.enrollOnly) console.error(`${summary.enrolled} devices renew on schedule; Ctrl-C stops them`);
        return summary;
      };
      let summary: FleetSummary | undefined;
      const run = await runFleet({
        batchDir: opts.manifest,
        directoryUrl,
        caPem,
        devices: batch.devices.slice(0, count),
        concurrency: opts.concurrency,
        workers: opts.workers,
        renew: !opts.enrollOnly,
        ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
        signal: controller.signal,
        onOutcome: (outcome, done) => {
          if (outcome.ok) ok++;
          else failed++;
          bar.update(done, `enrolled ${ok} failed ${failed}`);
        },
        onRenewal: () => {
          renewals++;
          if (renewals % 100 === 1) console.error(`renewals so far: ${renewals}`);
        },
        onRenewalFailure: (deviceId, reason) => {
          // A refused renewal is the control plane cutting a device off: never hidden.
          console.error(`renewal refused: ${deviceId} (${reason}); it stops renewing`);
          process.exitCode = 3;
        },
        onEnrolled: (enrolled) => {
          summary = report(enrolled);
        },
      });
      summary ??= report(run);
      if (summary.enrolled < summary.devices) process.exitCode = 3;
    });
}
