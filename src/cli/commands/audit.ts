/**
 * `hearth audit verify|prove`: check the transparency log as an outsider would, trusting only the
 * log's verifier key and, for HTTPS, the CA the auditor names. Exits non-zero on any finding.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { parseCheckpoint } from '../../ledger/checkpoint.js';
import { decodeLogEntry } from '../../ledger/log-entry.js';
import { leafHash, verifyInclusion, hashesEqual } from '../../ledger/merkle.js';
import { openNote, parseVerifierKey, type NoteVerifier } from '../../ledger/signed-note.js';
import { pemDecode } from '../../pki/certificate-assembly.js';
import { certificateFacts } from '../../pki/certificate-facts.js';
import { canonicalSerialHex } from '../../pki/serial-number.js';
import { AuditFailure, auditLog } from '../../transparency/log-auditor.js';
import { httpLogSource, type LogSource } from '../../transparency/log-source.js';
import { ApiClient, tokenFromEnvironment } from '../api-client.js';
import { dataDirFrom, readInstallation } from '../installation.js';

interface AuditCommandOptions {
  dir?: string;
  url?: string;
  key?: string;
  keyFile?: string;
  caFile?: string;
}

interface Target {
  source: LogSource;
  verifier: NoteVerifier;
  url: string;
  ca?: string;
}

/** The log's address, key and TLS anchor: from flags, else from the data directory. */
function target(options: AuditCommandOptions): Target {
  const dir = dataDirFrom(options.dir);
  const installation = existsSync(`${dir}/hearth.yaml`) ? readInstallation(dir) : undefined;
  const keyText =
    options.key ??
    (options.keyFile
      ? readFileSync(options.keyFile, 'utf8')
      : installation && existsSync(installation.layout.logVerifierKey)
        ? readFileSync(installation.layout.logVerifierKey, 'utf8')
        : undefined);
  if (!keyText) throw new Error('no verifier key for the log: give --key <name+id+key> or --key-file <file>, or --dir of the installation (ca/log.pub)');
  const verifier = parseVerifierKey(keyText);
  const url =
    options.url ??
    process.env.HEARTH_URL ??
    (installation ? `https://${installation.config.server.publicHost}:${installation.config.server.apiPort}` : undefined);
  if (!url) throw new Error('no log URL: give --url or set HEARTH_URL');
  const ca = options.caFile ? readFileSync(options.caFile, 'utf8') : installation ? readFileSync(installation.layout.caCertificate('root'), 'utf8') : undefined;
  return { source: httpLogSource(url, ca ? { ca } : {}), verifier, url, ...(ca ? { ca } : {}) };
}

function progress(done: number, total: number): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  process.stderr.write(`\r  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} entries`);
  if (done >= total) process.stderr.write('\n');
}

/** Serials of every issued or revoked certificate the API knows; needs a token with read access. */
async function apiSerials(t: Target): Promise<string[]> {
  if (!t.ca && t.url.startsWith('https:')) throw new Error('the API cross-check needs the installation root (--dir or --ca-file)');
  const client = new ApiClient({ url: t.url, token: tokenFromEnvironment(), ca: t.ca ?? '' });
  const serials: string[] = [];
  for (let after: string | null = null; ;) {
    const query = new URLSearchParams({ limit: '500', ...(after ? { after } : {}) });
    const page: { items: { serial: string; state: string }[]; next: string | null } = await client.call('GET', `/api/v1/certificates?${query}`);
    for (const item of page.items) if (item.state !== 'pending') serials.push(item.serial);
    if (!page.next) return serials;
    after = page.next;
  }
}

/** Serials logged after the checkpoint: present, just not yet covered by a signed tree head. */
async function serialsAfter(source: LogSource, from: number): Promise<Set<string>> {
  const serials = new Set<string>();
  for (let at = from; ;) {
    let leaves: Uint8Array[];
    try {
      leaves = await source.entries(at, at + 10_000);
    } catch {
      return serials; // past the end of the log
    }
    if (leaves.length === 0) return serials;
    for (const leaf of leaves) {
      const entry = decodeLogEntry(leaf);
      if (entry.kind === 'cert.issued' && typeof entry.serial === 'string') serials.add(entry.serial);
    }
    at += leaves.length;
  }
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('verify the transparency log from outside: checkpoint signature, every entry, consistency, inclusion');
  const common = <Args extends unknown[], Opts extends OptionValues, GlobalOpts extends OptionValues>(c: Command<Args, Opts, GlobalOpts>) =>
    c
      .option('--dir <dir>', 'installation data directory: its ca/log.pub, root certificate and API address')
      .option('--url <url>', 'base URL of the log (https://host:8443); default HEARTH_URL or the data directory')
      .option('--key <verifierKey>', 'the log verifier key <origin>+<key id>+<key> (instead of --dir)')
      .option('--key-file <file>', 'file holding the log verifier key')
      .option('--ca-file <pem>', 'CA certificate to trust for HTTPS (default: the installation root)');

  common(audit.command('verify'))
    .description('download every entry, recompute the tree, check the signed checkpoint, and consistency with a checkpoint kept earlier')
    .option('--checkpoint <file>', 'a signed checkpoint kept from an earlier audit; the log must still contain that tree')
    .option('--save-checkpoint <file>', 'write the verified checkpoint here, to pass as --checkpoint next time')
    .action(async (opts) => {
      const t = target(opts);
      try {
        const started = performance.now();
        const result = await auditLog(t.source, {
          verifier: t.verifier,
          ...(opts.checkpoint ? { previous: readFileSync(opts.checkpoint, 'utf8') } : {}),
          onProgress: progress,
        });
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        console.log(
          `log ${result.checkpoint.origin}: checkpoint signature valid, ${result.checkpoint.size} entries recomputed to root ${Buffer.from(result.checkpoint.root).toString('base64')} in ${seconds} s`,
        );
        console.log(`  entries: ${[...result.entriesByKind].map(([kind, n]) => `${kind} ${n}`).join(', ') || 'none'}`);
        if (opts.checkpoint) console.log(`  consistent with the kept checkpoint (${opts.checkpoint})`);

        let token = true;
        try {
          tokenFromEnvironment();
        } catch {
          token = false;
        }
        if (token) {
          const tail = await serialsAfter(t.source, result.checkpoint.size);
          const missing = (await apiSerials(t)).filter((serial) => !result.issuedSerials.has(serial) && !tail.has(serial));
          if (missing.length > 0) throw new AuditFailure(missing.map((serial) => `certificate ${serial} is in the API but not in the log`));
          console.log('  every certificate the API lists is in the log');
        } else {
          console.log('  API cross-check skipped: set HEARTH_TOKEN to also check every certificate the API lists is logged');
        }
        if (opts.saveCheckpoint) {
          writeFileSync(opts.saveCheckpoint, result.note);
          console.log(`  checkpoint kept in ${opts.saveCheckpoint}`);
        }
      } catch (error) {
        if (!(error instanceof AuditFailure)) throw error;
        console.error('audit FAILED:');
        for (const problem of error.problems) console.error(`  - ${problem}`);
        process.exitCode = 3;
      } finally {
        t.source.close();
      }
    });

  common(audit.command('prove'))
    .argument('<certificate>', 'a serial number (hex) or a certificate PEM file')
    .description("print a certificate's log entry and inclusion proof, and check it against the signed checkpoint")
    .action(async (subject, opts) => {
      const t = target(opts);
      try {
        let serial: string;
        let certificateSha256: string | undefined;
        if (existsSync(subject)) {
          const der = pemDecode(readFileSync(subject, 'utf8'), ['CERTIFICATE']);
          serial = certificateFacts(der).serialHex;
          certificateSha256 = createHash('sha256').update(der).digest('hex');
        } else {
          serial = canonicalSerialHex(subject);
        }
        const proof = await t.source.certificateProof(serial);
        const problems: string[] = [];
        const checkpoint = parseCheckpoint(openNote(proof.checkpoint, [t.verifier]).text);
        if (checkpoint.origin !== t.verifier.name) problems.push(`the checkpoint is for log "${checkpoint.origin}", not "${t.verifier.name}"`);
        const leaf = Buffer.from(proof.leaf, 'utf8');
        const entry = decodeLogEntry(leaf);
        if (entry.kind !== 'cert.issued' || entry.serial !== serial)
          problems.push(`the entry is a ${entry.kind} for ${String(entry.serial)}, not cert.issued for ${serial}`);
        if (certificateSha256 && entry.kind === 'cert.issued' && entry.certificateSha256 !== certificateSha256)
          problems.push('the logged certificate digest differs from this certificate');
        const hash = leafHash(leaf);
        if (!hashesEqual(hash, Buffer.from(proof.leafHash, 'base64'))) problems.push('the leaf hash the log gave does not match the leaf');
        const hashes = proof.hashes.map((h) => new Uint8Array(Buffer.from(h, 'base64')));
        if (proof.size !== checkpoint.size) problems.push(`the proof is for size ${proof.size}, the checkpoint for ${checkpoint.size}`);
        if (!verifyInclusion(hash, proof.index, checkpoint.size, hashes, checkpoint.root))
          problems.push('the inclusion proof does not lead to the checkpoint root');

        console.log(`certificate ${serial}`);
        console.log(`  leaf index   ${proof.index} of ${checkpoint.size}`);
        console.log(`  leaf         ${proof.leaf}`);
        console.log(`  leaf hash    ${proof.leafHash}`);
        console.log(`  checkpoint   ${checkpoint.origin} size ${checkpoint.size} root ${Buffer.from(checkpoint.root).toString('base64')}`);
        console.log(`  proof        ${proof.hashes.length} hashes`);
        for (const h of proof.hashes) console.log(`    ${h}`);
        if (problems.length > 0) {
          console.error('proof FAILED:');
          for (const problem of problems) console.error(`  - ${problem}`);
          process.exitCode = 3;
        } else {
          console.log(
            `  inclusion proof verified against the checkpoint signed by ${t.verifier.name}${certificateSha256 ? '; the logged digest matches the certificate' : ''}`,
          );
        }
      } finally {
        t.source.close();
      }
    });
}
