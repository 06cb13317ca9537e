/**
 * What each kind of certificate Hearth issues must look like. The template builds from these and
 * the lint checks against them, so a profile is the single statement of policy.
 */
import type { KeyUsageType } from '@peculiar/asn1-x509';
import { UnknownProfileError } from '../core/errors.js';
import type { IssuingCaName } from '../core/data-dir-layout.js';

export const OID_KP_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_KP_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const OID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

export type { IssuingCaName } from '../core/data-dir-layout.js';

export type ProfileName = 'root' | 'issuing-ca-devices' | 'issuing-ca-services' | 'ocsp-signer' | 'device' | 'gateway' | 'service';

/**
 * Which subjectAltName entries a profile admits:
 * - none: no SAN at all (CAs, OCSP responders);
 * - device-id: exactly one URI that is a device identifier, a PermanentIdentifier otherName with
 *   the same value, and CN equal to it;
 * - gateway: DNS names and/or one device-identifier URI, at least one entry;
 * - service: DNS names and/or IP addresses, at least one entry.
 */
export type SanRule = 'none' | 'device-id' | 'gateway' | 'service';

/** Who may sign a certificate of this profile. */
export type IssuedBy = 'self' | 'root' | IssuingCaName | 'any-issuing-ca';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface CertificateProfile {
  readonly name: ProfileName;
  readonly issuedBy: IssuedBy;
  /** Longest validity (notAfter − notBefore) a certificate of this profile may have. */
  readonly maxLifetimeMs: number;
  readonly basicConstraints: { readonly ca: false } | { readonly ca: true; readonly pathLength?: number };
  readonly keyUsage: readonly KeyUsageType[];
  /** Added to keyUsage when the subject key is RSA (key transport in TLS 1.2 RSA suites). */
  readonly rsaKeyUsage: readonly KeyUsageType[];
  /** Empty means the extension is absent (a root is not constrained by EKU). */
  readonly extendedKeyUsage: readonly string[];
  readonly subjectAltNames: SanRule;
  /** Only the service profile may name a wildcard host. */
  readonly allowWildcardDns: boolean;
  /** id-pkix-ocsp-nocheck: a delegated responder's own status is not checked (RFC 6960 4.2.2.2.1). */
  readonly ocspNoCheck: boolean;
  /** May carry its model's MUD URL (RFC 8520): device certificates only. */
  readonly mudUrl: boolean;
}

/** Things every profile shares; KU, BasicConstraints (always critical) and SKI are always present. */
const leaf = {
  basicConstraints: { ca: false },
  rsaKeyUsage: [],
  allowWildcardDns: false,
  ocspNoCheck: false,
  mudUrl: false,
} as const;

const issuingCa = (name: IssuingCaName, extendedKeyUsage: string[]): CertificateProfile => ({
  name: `issuing-ca-${name}`,
  issuedBy: 'root',
  maxLifetimeMs: 365 * DAY,
  basicConstraints: { ca: true, pathLength: 0 },
  keyUsage: ['keyCertSign', 'crlSign'],
  rsaKeyUsage: [],
  extendedKeyUsage,
  subjectAltNames: 'none',
  allowWildcardDns: false,
  ocspNoCheck: false,
  mudUrl: false,
});

const PROFILES: Readonly<Record<ProfileName, CertificateProfile>> = {
  root: {
    name: 'root',
    issuedBy: 'self',
    maxLifetimeMs: 3650 * DAY,
    basicConstraints: { ca: true },
    keyUsage: ['keyCertSign', 'crlSign'],
    rsaKeyUsage: [],
    extendedKeyUsage: [],
    subjectAltNames: 'none',
    allowWildcardDns: false,
    ocspNoCheck: false,
    mudUrl: false,
  },
  // A CA's EKU limits what its leaves can be used for, in verifiers that chain EKUs.
  // OCSPSigning is deliberately absent: an issuing CA holding it is itself a delegated responder
  // for every certificate its issuer (the root) signed, so one issuing CA could sign OCSP answers
  // about its sibling CA that OpenSSL accepts. Only the delegates (ocsp-signer) carry it: RFC 6960
  // 4.2.2.2 asks it of the responder certificate alone, as OpenSSL and Go's x/crypto/ocsp check.
  'issuing-ca-devices': issuingCa('devices', [OID_KP_CLIENT_AUTH]),
  'issuing-ca-services': issuingCa('services', [OID_KP_SERVER_AUTH, OID_KP_CLIENT_AUTH]),
  'ocsp-signer': {
    ...leaf,
    name: 'ocsp-signer',
    issuedBy: 'any-issuing-ca',
    maxLifetimeMs: 30 * DAY,
    keyUsage: ['digitalSignature'],
    extendedKeyUsage: [OID_KP_OCSP_SIGNING],
    subjectAltNames: 'none',
    ocspNoCheck: true,
  },
  device: {
    ...leaf,
    name: 'device',
    issuedBy: 'devices',
    maxLifetimeMs: 24 * HOUR,
    keyUsage: ['digitalSignature'],
    extendedKeyUsage: [OID_KP_CLIENT_AUTH],
    subjectAltNames: 'device-id',
    mudUrl: true,
  },
  gateway: {
    ...leaf,
    name: 'gateway',
    issuedBy: 'services',
    maxLifetimeMs: 7 * DAY,
    keyUsage: ['digitalSignature'],
    extendedKeyUsage: [OID_KP_SERVER_AUTH, OID_KP_CLIENT_AUTH],
    subjectAltNames: 'gateway',
  },
  service: {
    ...leaf,
    name: 'service',
    issuedBy: 'services',
    maxLifetimeMs: 90 * DAY,
    keyUsage: ['digitalSignature'],
    rsaKeyUsage: ['keyEncipherment'],
    extendedKeyUsage: [OID_KP_SERVER_AUTH, OID_KP_CLIENT_AUTH],
    subjectAltNames: 'service',
    allowWildcardDns: true,
  },
};

export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export function getProfile(name: string): CertificateProfile {
  if (!Object.hasOwn(PROFILES, name)) throw new UnknownProfileError(name);
  return PROFILES[name as ProfileName];
}

export function issuingCaProfile(ca: IssuingCaName): CertificateProfile {
  return PROFILES[`issuing-ca-${ca}`];
}
