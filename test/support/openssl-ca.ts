/**
 * A throwaway P-256 CA made by the openssl binary, so tests can check what Hearth encodes against
 * an independent implementation: the CA, a delegated OCSP responder (EKU OCSPSigning) and leaves
 * with known serials. Call cleanup() when done.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateFacts, type CertificateFacts } from '../../src/pki/certificate-facts.js';

export interface OpensslCert {
  /** PEM file in the CA's temp dir. */
  certPath: string;
  der: Uint8Array;
  facts: CertificateFacts;
}

export interface OpensslKeyedCert extends OpensslCert {
  keyPath: string;
  key: KeyObject;
}

export interface OpensslCa {
  dir: string;
  ca: OpensslKeyedCert;
  responder: OpensslKeyedCert;
  /** Leaves in the order of the serials asked for. */
  leaves: OpensslCert[];
  /** Runs openssl in the CA's dir; returns stdout and stderr together, and never throws. */
  openssl(args: string[]): { status: number; output: string };
  path(name: string): string;
  cleanup(): void;
}

const CA_EXTENSIONS = `[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[responder]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** @param leafSerials hex serial numbers for the leaf certificates */
export function createOpensslCa(leafSerials: string[] = ['1001', '1002']): OpensslCa {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-openssl-ca-'));
  const path = (name: string) => join(dir, name);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(path('ext.cnf'), CA_EXTENSIONS);

  const newKey = (name: string) => run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
  const keyed = (name: string): OpensslKeyedCert => ({
    ...loadCert(path(`${name}.pem`)),
    keyPath: path(`${name}.key`),
    key: createPrivateKey(readFileSync(path(`${name}.key`))),
  });
  const issue = (name: string, subject: string, section: string, serialHex: string) => {
    newKey(name);
    run(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
    run([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      `0x${serialHex}`,
      '-days',
      '2',
      '-sha256',
      '-extfile',
      'ext.cnf',
      '-extensions',
      section,
      '-out',
      `${name}.pem`,
    ]);
  };

  try {
    newKey('ca');
    run([
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/O=Hearth Test/CN=Test Devices CA',
      '-days',
      '2',
      '-sha256',
      '-set_serial',
      '0x01',
      '-config',
      'ext.cnf',
      '-extensions',
      'ca',
      '-out',
      'ca.pem',
    ]);
    issue('responder', '/O=Hearth Test/CN=Test OCSP Responder', 'responder', '0abc');
    leafSerials.forEach((serial, i) => issue(`leaf${i + 1}`, `/O=Hearth Test/CN=device-${i + 1}`, 'leaf', serial));
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    dir,
    ca: keyed('ca'),
    responder: keyed('responder'),
    leaves: leafSerials.map((_, i) => loadCert(path(`leaf${i + 1}.pem`))),
    openssl(args) {
      const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
    },
    path,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function loadCert(certPath: string): OpensslCert {
  const der = new Uint8Array(execFileSync('openssl', ['x509', '-in', certPath, '-outform', 'DER']));
  return { certPath, der, facts: certificateFacts(der) };
}
