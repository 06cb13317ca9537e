/**
 * Options with a fixed set of values refuse anything else before the command runs (no data
 * directory, token or server is touched), exit 1 and name the valid values; `hearth cert list`
 * prints its column names before the rows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initInstallation, opensslDeviceCsr, runCli, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

const nowhere = { ...process.env, HEARTH_DIR: '/nonexistent/hearth', HEARTH_TOKEN: 'unused' };

for (const [args, expected] of [
  [
    ['cert', 'issue', '--csr', 'req.pem', '--profile', 'toaster'],
    /option '--profile <profile>' argument 'toaster' is invalid\. expected one of device, gateway, service/,
  ],
  [
    ['cert', 'revoke', '01', '--reason', 'bored'],
    /expected one of unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise/,
  ],
  [['cert', 'list', '--state', 'lost'], /expected one of pending, issued, revoked/],
  [['cert', 'renew-early', '--ca', 'root'], /expected one of devices, services/],
  [['ca', 'sign-root-crl', '--revoke-ca', 'root'], /expected one of devices, services/],
  [['manufacturer', 'revoke-factory-cert', 'Acme', 'cert.pem', '--reason', 'superseded'], /expected one of keyCompromise, cessationOfOperation/],
  [['manufacturer', 'group', 'Acme', 'maybe'], /argument 'state'\. expected one of on, off/],
] as [string[], RegExp][]) {
  test(`hearth ${args.join(' ')}: refused, naming the valid values`, () => {
    const result = runCli(args, nowhere);
    assert.equal(result.status, 1, result.stdout);
    assert.match(result.stderr, expected);
    assert.equal(result.stdout, '');
  });
}

test('--help lists the valid values', () => {
  const help = runCli(['cert', 'issue', '--help'], nowhere);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout.replace(/\s+/g, ' '), /--profile <profile> certificate profile \(choices: "device", "gateway", "service"\)/);
});

let installation: Installation;
let server: RunningServer;
before(async () => {
  installation = await initInstallation();
  server = await startServer(installation);
});
after(async () => {
  await server?.stop();
  await installation?.cleanup();
});

test('hearth cert list prints a header line, then one line per certificate', () => {
  const env = { ...installation.env, HEARTH_URL: server.apiUrl };
  const id = 'urn:dev:ops:acme-thermo1-SN000042';
  const key = join(installation.dir, 'device.key');
  const csr = join(installation.dir, 'device.csr');
  assert.equal(opensslDeviceCsr(key, csr, id).status, 0);
  const issued = runCli(['cert', 'issue', '--dir', installation.dir, '--csr', csr, '--profile', 'device'], env);
  assert.equal(issued.status, 0, issued.stderr);
  const list = runCli(['cert', 'list', '--dir', installation.dir, '--identifier', id], env);
  assert.equal(list.status, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  assert.match(lines[0] as string, /^serial +state +profile +not after +identifier$/);
  assert.equal(lines.length, 2, list.stdout);
  assert.match(lines[1] as string, new RegExp(`^[0-9a-f]+ +issued +device +\\S+ +${id}$`));
  // The columns line up under their names.
  assert.equal((lines[1] as string).indexOf(id), (lines[0] as string).indexOf('identifier'));
});
