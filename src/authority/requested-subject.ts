/**
 * What a certificate will name, taken from a CSR and checked against the profile's subjectAltName
 * rule (certificate-lint.ts) so a request the lint would refuse is refused here as the client's
 * mistake (400) rather than reaching the lint (422).
 */
import { BadCsrError } from '../core/errors.js';
import type { ParsedCsr } from '../pki/csr.js';
import type { CertificateProfile } from '../pki/profiles.js';
import type { SubjectInput } from '../pki/certificate-template.js';
import { isDeviceId } from '../pki/device-id.js';
import { MAX_COMMON_NAME_LENGTH, isValidDnsName } from '../pki/name.js';

/** The names of a certificate-to-be, and the one identifier the store files it under. */
export type IssuedSubject = Omit<SubjectInput, 'spki'> & { identifier: string };

export function subjectFor(profile: CertificateProfile, csr: ParsedCsr): IssuedSubject {
  const deviceIds = [...new Set([...csr.uris, ...(csr.commonName ? [csr.commonName] : [])].filter(isDeviceId))];
  if (profile.name === 'device') {
    if (deviceIds.length !== 1) {
      throw new BadCsrError('a device CSR must name exactly one device identifier (urn:dev:ops:<vendor>-<model>-<serial>) as SAN URI or common name');
    }
    if (csr.dnsNames.length > 0 || csr.ipAddresses.length > 0) throw new BadCsrError('a device CSR may not request DNS names or IP addresses');
    const id = deviceIds[0] as string;
    return { identifier: id, commonName: id, dnsNames: [], uris: [id], ipAddresses: [], permanentIdentifier: id };
  }
  const allowWildcard = profile.allowWildcardDns;
  const invalid = csr.dnsNames.find((name) => !isValidDnsName(name, { allowWildcard }));
  if (invalid !== undefined) throw new BadCsrError(`"${invalid}" is not a valid ${allowWildcard ? '' : 'non-wildcard '}lower-case DNS name`);
  const commonNameIsHost = csr.commonName !== undefined && isValidDnsName(csr.commonName, { allowWildcard });
  const dnsNames = [...new Set([...csr.dnsNames, ...(commonNameIsHost ? [csr.commonName as string] : [])])];
  const commonName = commonNameFor(dnsNames);

  if (profile.name === 'gateway') {
    if (csr.ipAddresses.length > 0) throw new BadCsrError('a gateway certificate may not name IP addresses');
    if (deviceIds.length > 1) throw new BadCsrError('a gateway certificate may name at most one device identifier');
    const identifier = dnsNames[0] ?? deviceIds[0];
    if (!identifier) throw new BadCsrError('a gateway CSR must request at least one DNS name or a device identifier');
    return { identifier, commonName, dnsNames, uris: deviceIds, ipAddresses: [] };
  }
  const identifier = dnsNames[0] ?? csr.ipAddresses[0];
  if (!identifier) throw new BadCsrError(`a ${profile.name} CSR must request at least one DNS name or IP address`);
  return { identifier, commonName, dnsNames, uris: [], ipAddresses: csr.ipAddresses };
}

/**
 * The first DNS name doubles as common name for clients that still read it, unless it is longer
 * than a common name may be (RFC 5280 ub-common-name); the SAN alone then names the host.
 */
export function commonNameFor(dnsNames: readonly string[]): string | undefined {
  const first = dnsNames[0];
  return first !== undefined && first.length <= MAX_COMMON_NAME_LENGTH ? first : undefined;
}
