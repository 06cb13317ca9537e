/**
 * Checks a factory certificate chain (the x5c of a device attestation) against the registered
 * manufacturer roots: every certificate in its validity period at `now`, each signed by the next,
 * every issuer a CA, the last one issued by (or being) a registered root. No I/O: the caller
 * hands in the roots and the time. Issuers verified once are remembered by their DER digest, so
 * a fleet that shares one intermediate pays for its signature check once.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, Certificate, id_ce_basicConstraints } from '@peculiar/asn1-x509';
import { DerReader, decodeString, type Tlv } from '../../pki/der-reader.js';
import { TAG, contextTag } from '../../pki/der-writer.js';
import { attributeValuesDer } from '../../pki/name.js';
import { assertStrictDer } from '../../pki/strict-der.js';
import { OID_HEARTH_DEVICE_MODEL } from '../factory/device-model-extension.js';
import { sha256Hex } from '../factory/batch-manifest.js';

const OID_SERIAL_NUMBER = '2.5.4.5';
const OID_ORGANIZATION = '2.5.4.10';
const OID_COUNTRY = '2.5.4.6';
const OID_ORGANIZATIONAL_UNIT = '2.5.4.11';
const OID_COMMON_NAME = '2.5.4.3';
/** id-fido-gen-ce-aaguid: the authenticator model's AAGUID in an attestation certificate. */
export const OID_FIDO_GEN_CE_AAGUID = '1.3.6.1.4.1.45724.1.1.4';
/** WebAuthn §8.2.1: the attestation certificate's subject OU is this literal string. */
export const WEBAUTHN_ATTESTATION_OU = 'Authenticator Attestation';

export type ChainFailure =
  'malformed' | 'unknown-root' | 'expired' | 'not-yet-valid' | 'bad-signature' | 'not-a-ca' | 'path-too-long' | 'leaf-is-ca' | 'no-serial';

export class FactoryChainError extends Error {
  constructor(
    readonly failure: ChainFailure,
    message: string,
  ) {
    super(message);
    this.name = 'FactoryChainError';
  }
}

export interface TrustedRoot {
  manufacturer: string;
  der: Uint8Array;
}

export interface FactoryIdentity {
  manufacturer: string;
  /** The subject's serialNumber attribute: the device's serial. */
  serial: string;
  /** From the Hearth device-model extension; undefined when the certificate has none. */
  model: string | undefined;
  /** The organisation the certificate names (informational). */
  organization: string | undefined;
  /**
   * What the factory (attestation) certificate lacks of WebAuthn §8.2.1, each naming the field;
   * empty when it complies. The caller decides: refuse, or admit a legacy fleet and log it.
   */
  webauthnProblems: string[];
  /** The id-fido-gen-ce-aaguid extension's AAGUID, when the certificate carries one. */
  aaguid: Uint8Array | undefined;
  certificateSha256: string;
  /** SHA-256 of the factory key's SubjectPublicKeyInfo DER. */
  keySha256: string;
  publicKey: KeyObject;
  notAfter: Date;
}

function parse(der: Uint8Array, what: string): X509Certificate {
  try {
    // OpenSSL reads some BER (and ignores bytes after the certificate); a chain is held to DER so its digests pin one encoding.
    assertStrictDer(der);
  } catch (error) {
    throw new FactoryChainError('malformed', `${what} is not DER: ${(error as Error).message}`);
  }
  try {
    return new X509Certificate(der);
  } catch {
    throw new FactoryChainError('malformed', `${what} is not a DER X.509 certificate`);
  }
}

function checkValidity(cert: X509Certificate, now: Date, what: string): void {
  if (now.getTime() < Date.parse(cert.validFrom))
    throw new FactoryChainError('not-yet-valid', `${what} is not valid before ${new Date(cert.validFrom).toISOString()}`);
  if (now.getTime() > Date.parse(cert.validTo)) throw new FactoryChainError('expired', `${what} expired at ${new Date(cert.validTo).toISOString()}`);
}

/**
 * The factory certificate's serialNumber and organisation attributes and its device-model
 * extension, read in place with the strict DER reader (parsing it with asn1-schema cost more
 * than the signature checks).
 */
interface LeafFacts {
  serial: string | undefined;
  organization: string | undefined;
  model: string | undefined;
  version: number;
  country: string[];
  organizationalUnit: string[];
  commonName: string[];
  aaguid: { critical: boolean; value: Uint8Array | undefined } | undefined;
}

/**
 * W3C WebAuthn §8.2.1, packed attestation statement certificate requirements: version 3;
 * subject C (ISO 3166 code), O (vendor), OU "Authenticator Attestation", CN; an
 * id-fido-gen-ce-aaguid extension, if present, not critical and holding an AAGUID. Basic
 * Constraints CA false is not among them: a CA certificate is refused as the leaf
 * (`leaf-is-ca`) before these are asked, legacy fleet or not.
 */
function webauthnProblems(facts: LeafFacts): string[] {
  const problems: string[] = [];
  if (facts.version !== 3) problems.push(`version is ${facts.version}, not 3`);
  if (facts.country.length !== 1 || !/^[A-Z]{2}$/.test(facts.country[0] as string)) problems.push('subject C is not one ISO 3166 two-letter country code');
  if (facts.organization === undefined || facts.organization.length === 0) problems.push('subject O (the vendor) is missing');
  if (facts.organizationalUnit.length !== 1 || facts.organizationalUnit[0] !== WEBAUTHN_ATTESTATION_OU)
    problems.push(`subject OU is not "${WEBAUTHN_ATTESTATION_OU}"`);
  if (facts.commonName.length === 0 || facts.commonName[0] === '') problems.push('subject CN is missing');
  if (facts.aaguid?.critical) problems.push('the id-fido-gen-ce-aaguid extension is critical');
  if (facts.aaguid && facts.aaguid.value === undefined) problems.push('the id-fido-gen-ce-aaguid extension does not hold a 16-byte AAGUID');
  return problems;
}

function subjectAttributes(der: Uint8Array): LeafFacts {
  try {
    const reader = new DerReader(der);
    const [tbs] = reader.childrenOf(reader.root(), TAG.SEQUENCE, 'Certificate');
    const fields = reader.childrenOf(reader.expect(tbs, TAG.SEQUENCE, 'TBSCertificate'), TAG.SEQUENCE, 'TBSCertificate');
    const offset = fields[0]?.tag === contextTag(0, true) ? 1 : 0;
    let version = 1;
    if (offset === 1) {
      const [number] = reader.children(fields[0] as Tlv);
      const content = reader.content(reader.expect(number, TAG.INTEGER, 'version'));
      version = content.length === 1 ? (content[0] as number) + 1 : 0;
    }
    let aaguid: LeafFacts['aaguid'];
    const subject = reader.expect(fields[offset + 4], TAG.SEQUENCE, 'subject');
    let model: string | undefined;
    const extensions = fields.find((f) => f.tag === contextTag(3, true));
    if (extensions) {
      const [list] = reader.children(extensions);
      for (const extension of reader.childrenOf(reader.expect(list, TAG.SEQUENCE, 'extensions'), TAG.SEQUENCE, 'extensions')) {
        const parts = reader.childrenOf(extension, TAG.SEQUENCE, 'Extension');
        const extnId = reader.oid(parts[0], 'extnID');
        if (extnId === OID_FIDO_GEN_CE_AAGUID) {
          const critical = parts.length === 3 && reader.boolean(parts[1] as Tlv, 'critical').value;
          const inner = new DerReader(reader.content(reader.expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue')));
          const bytes = inner.content(inner.expect(inner.root(), TAG.OCTET_STRING, 'AAGUID'));
          aaguid = { critical, value: bytes.length === 16 ? bytes : undefined };
          continue;
        }
        if (extnId !== OID_HEARTH_DEVICE_MODEL) continue;
        const value = new DerReader(reader.content(reader.expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue')));
        const [text] = value.childrenOf(value.root(), TAG.SEQUENCE, 'HearthDeviceModel');
        model = decodeString(value.expect(text, 0x0c, 'model').tag, value.content(text as Tlv), 'model');
      }
    }
    const values = (type: string) => attributeValuesDer(reader, subject, type);
    return {
      serial: values(OID_SERIAL_NUMBER)[0],
      organization: values(OID_ORGANIZATION)[0],
      model,
      version,
      country: values(OID_COUNTRY),
      organizationalUnit: values(OID_ORGANIZATIONAL_UNIT),
      commonName: values(OID_COMMON_NAME),
      aaguid,
    };
  } catch (error) {
    throw new FactoryChainError('malformed', `the factory certificate does not parse: ${(error as Error).message}`);
  }
}

/** A CA certificate's pathLenConstraint (RFC 5280 4.2.1.9), or undefined when it sets none. */
function pathLengthConstraint(cert: X509Certificate): number | undefined {
  const extension = AsnConvert.parse(cert.raw, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === id_ce_basicConstraints);
  if (!extension) return undefined;
  return AsnConvert.parse(extension.extnValue, BasicConstraints).pathLenConstraint;
}

/**
 * RFC 5280 6.1.4 (l, m): a CA's pathLenConstraint bounds the intermediate CA certificates below it
 * in the path (the factory certificate not counted). `path` runs from x5c[1] up to the root.
 */
function checkPathLengths(path: readonly X509Certificate[]): void {
  path.forEach((cert, below) => {
    const limit = pathLengthConstraint(cert);
    if (limit !== undefined && below > limit) {
      const which = below === path.length - 1 ? 'the manufacturer root' : `certificate ${below + 2} of the chain`;
      throw new FactoryChainError('path-too-long', `${which} allows ${limit} intermediate CA certificate(s) below it, and the chain has ${below}`);
    }
  });
}

interface VerifiedIssuer {
  manufacturer: string;
  /** The chain above the factory certificate, parsed: x5c[1] first. */
  certificates: X509Certificate[];
}

/** Chains of issuers remembered at most, by default; a flood of distinct valid chains only empties the memo. */
const MAX_REMEMBERED_CHAINS = 1024;

export class FactoryChainVerifier {
  private readonly roots: { manufacturer: string; certificate: X509Certificate; sha256: string }[];
  /** Issuers (intermediates) whose path to a root was verified, by DER digest. */
  private readonly verified = new Map<string, VerifiedIssuer>();

  constructor(
    roots: readonly TrustedRoot[],
    private readonly maxRememberedChains = MAX_REMEMBERED_CHAINS,
  ) {
    this.roots = roots.map((root) => ({ manufacturer: root.manufacturer, certificate: parse(root.der, 'a registered root'), sha256: sha256Hex(root.der) }));
  }

  /** How many verified issuer chains are remembered now (never more than the bound). */
  get rememberedChains(): number {
    return this.verified.size;
  }

  /** The root (registered) that issued `cert`, or undefined. */
  private rootIssuing(cert: X509Certificate): { manufacturer: string; certificate: X509Certificate } | undefined {
    return this.roots.find((root) => cert.checkIssued(root.certificate) && cert.verify(root.certificate.publicKey));
  }

  /**
   * The issuer chain from x5c[1] up: each checked against the next, the top one against a root.
   * A chain that ends with the root itself is accepted, as WebAuthn allows. A chain verified once
   * is remembered (parsed) by its digests; its dates are still checked on every use.
   */
  private verifyIssuers(chain: readonly Uint8Array[], now: Date): VerifiedIssuer {
    const digests = chain.map(sha256Hex);
    const key = digests.join(',');
    let verified = this.verified.get(key);
    if (!verified) {
      const certificates = chain.map((der, i) => parse(der, `certificate ${i + 2} of the chain`));
      certificates.forEach((cert, i) => {
        if (!cert.ca) throw new FactoryChainError('not-a-ca', `certificate ${i + 2} of the chain issues the one below it but is not a CA`);
      });
      for (let i = 0; i + 1 < certificates.length; i++) {
        const [cert, issuer] = [certificates[i] as X509Certificate, certificates[i + 1] as X509Certificate];
        if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey))
          throw new FactoryChainError('bad-signature', `certificate ${i + 2} of the chain is not signed by certificate ${i + 3}`);
      }
      const top = certificates[certificates.length - 1] as X509Certificate;
      const asRoot = this.roots.find((root) => root.sha256 === digests[digests.length - 1]);
      const root = asRoot ?? this.rootIssuing(top);
      if (!root) throw new FactoryChainError('unknown-root', 'the factory chain does not lead to a registered manufacturer root');
      const path = asRoot ? certificates : [...certificates, root.certificate];
      checkPathLengths(path);
      verified = { manufacturer: root.manufacturer, certificates: path };
      if (this.verified.size >= this.maxRememberedChains) this.verified.clear();
      this.verified.set(key, verified);
    }
    verified.certificates.forEach((cert, i) =>
      checkValidity(cert, now, i === verified.certificates.length - 1 ? 'the manufacturer root' : `certificate ${i + 2} of the chain`),
    );
    return verified;
  }

  verify(x5c: readonly Uint8Array[], now: Date): FactoryIdentity {
    const [leafDer, ...issuers] = x5c;
    if (!leafDer) throw new FactoryChainError('malformed', 'the chain is empty');
    const leaf = parse(leafDer, 'the factory certificate');
    if (leaf.ca) throw new FactoryChainError('leaf-is-ca', 'the factory certificate is a CA certificate');
    checkValidity(leaf, now, 'the factory certificate');
    let manufacturer: string;
    if (issuers.length === 0) {
      const root = this.rootIssuing(leaf);
      if (!root) throw new FactoryChainError('unknown-root', 'the factory certificate is not issued by a registered manufacturer root');
      checkValidity(root.certificate, now, 'the manufacturer root');
      manufacturer = root.manufacturer;
    } else {
      const issuer = this.verifyIssuers(issuers, now);
      const signer = issuer.certificates[0] as X509Certificate;
      if (!leaf.checkIssued(signer) || !leaf.verify(signer.publicKey)) {
        throw new FactoryChainError('bad-signature', 'the factory certificate is not signed by the intermediate that follows it');
      }
      manufacturer = issuer.manufacturer;
    }
    const facts = subjectAttributes(leafDer);
    const { serial, organization, model } = facts;
    if (!serial) throw new FactoryChainError('no-serial', 'the factory certificate names no serialNumber');
    return {
      manufacturer,
      serial,
      model,
      organization,
      webauthnProblems: webauthnProblems(facts),
      aaguid: facts.aaguid?.value,
      certificateSha256: sha256Hex(leafDer),
      keySha256: sha256Hex(leaf.publicKey.export({ type: 'spki', format: 'der' })),
      publicKey: leaf.publicKey,
      notAfter: new Date(leaf.validTo),
    };
  }
}
