/**
 * A small Hearth hierarchy for issuance tests: root → issuing CAs `devices` and `services`, with
 * test signers, built through the same template → lint → sign → assemble path the authority uses.
 */
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../src/core/clock.js';
import { LintError } from '../../src/core/errors.js';
import type { KeyAlgorithm } from '../../src/pki/signer.js';
import { assembleCertificate } from '../../src/pki/certificate-assembly.js';
import { lintTbsCertificate } from '../../src/pki/certificate-lint.js';
import { buildTbsCertificate, issuerFromCertificate, type IssuerInput, type RevocationUrls, type SubjectInput } from '../../src/pki/certificate-template.js';
import { getProfile, issuingCaProfile, type IssuingCaName } from '../../src/pki/profiles.js';
import { newSerialNumber } from '../../src/pki/serial-number.js';
import { createTestSigner, type TestSigner } from '../support/test-signer.js';

export const START = new Date('2030-01-15T12:00:00Z');

export interface IssuedCa {
  der: Uint8Array;
  signer: TestSigner;
  issuer: IssuerInput;
}

export interface IssueOptions {
  profile: string;
  by?: IssuedCa;
  signer?: TestSigner;
  subject: Omit<SubjectInput, 'spki'> & { spki?: Uint8Array };
  urls?: RevocationUrls;
  clock: ManualClock;
  lifetimeMs?: number;
}

export function urlsFor(ca: string): RevocationUrls {
  return { ocsp: 'http://hearth.test:8080/ocsp', caIssuers: `http://hearth.test:8080/ca/${ca}.cer`, crl: `http://hearth.test:8080/crl/${ca}.crl` };
}

/** Issues one certificate; a self-signed profile signs with `signer`, others with `by`. */
export async function issue(options: IssueOptions): Promise<{ der: Uint8Array; signer: TestSigner }> {
  const profile = getProfile(options.profile);
  const subjectSigner = options.signer ?? createTestSigner('ECDSA-P256');
  const spki = options.subject.spki ?? (await subjectSigner.publicKeySpki());
  const issuerSigner = options.by?.signer ?? subjectSigner;
  const issuer: IssuerInput = options.by?.issuer ?? { signatureAlgorithm: issuerSigner.algorithm };
  const built = buildTbsCertificate({
    profile,
    serialHex: newSerialNumber((n) => randomBytes(n)).hex,
    issuer,
    subject: { ...options.subject, spki },
    ...(options.urls ? { urls: options.urls } : {}),
    clock: options.clock,
    ...(options.lifetimeMs ? { lifetimeMs: options.lifetimeMs } : {}),
  });
  const findings = lintTbsCertificate(built.tbs, profile, { issuer, ...(options.urls ? { urls: options.urls } : {}) });
  if (findings.length > 0) throw new LintError(findings);
  const signature = await issuerSigner.sign(built.tbs);
  return { der: assembleCertificate(built.tbs, issuerSigner.algorithm, signature), signer: subjectSigner };
}

export interface Hierarchy {
  clock: ManualClock;
  root: IssuedCa;
  devices: IssuedCa;
  services: IssuedCa;
}

export async function buildHierarchy(rootAlgorithm: KeyAlgorithm = 'ECDSA-P384', caAlgorithm: KeyAlgorithm = 'ECDSA-P256'): Promise<Hierarchy> {
  const clock = new ManualClock(START);
  const rootSigner = createTestSigner(rootAlgorithm);
  const rootCert = await issue({ profile: 'root', signer: rootSigner, subject: { commonName: 'Hearth Test Root CA', organization: 'Hearth' }, clock });
  const root: IssuedCa = { der: rootCert.der, signer: rootSigner, issuer: issuerFromCertificate(rootCert.der, rootAlgorithm) };
  const issuing = async (name: IssuingCaName): Promise<IssuedCa> => {
    const signer = createTestSigner(caAlgorithm);
    const { der } = await issue({
      profile: issuingCaProfile(name).name,
      by: root,
      signer,
      subject: { commonName: `Hearth ${name} CA`, organization: 'Hearth' },
      urls: { caIssuers: 'http://hearth.test:8080/ca/root.cer', crl: 'http://hearth.test:8080/crl/root.crl' },
      clock,
    });
    return { der, signer, issuer: issuerFromCertificate(der, caAlgorithm) };
  };
  return { clock, root, devices: await issuing('devices'), services: await issuing('services') };
}
