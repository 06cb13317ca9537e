/**
 * Checks a factory certificate chain (the x5c of a device attestation) against the registered
 * manufacturer roots: every certificate in its validity period at `now`, each signed by the next,
 * every issuer a CA, the last one issued by (or being) a registered root. No I/O: the caller
 * hands in the roots and the time. Issuers verified once are remembered by their DER digest, so
 * a fleet that shares one intermediate pays for its signature check once.
 */
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { decodeDeviceModel, OID_HEARTH_DEVICE_MODEL } from '../factory/device-model-extension.js';

const OID_SERIAL_NUMBER = '2.5.4.5';
const OID_ORGANIZATION = '2.5.4.10';

export type ChainFailure = 'malformed' | 'unknown-root' | 'expired' | 'not-yet-valid' | 'bad-signature' | 'not-a-ca' | 'leaf-is-ca' | 'no-serial';

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
  certificateSha256: string;
  /** SHA-256 of the factory key's SubjectPublicKeyInfo DER. */
  keySha256: string;
  publicKey: KeyObject;
  notAfter: Date;
}

const hex = (data: Uint8Array | Buffer): string => createHash('sha256').update(data).digest('hex');

function parse(der: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw new FactoryChainError('malformed', `${what} is not a DER X.509 certificate`);
  }
}

function checkValidity(cert: X509Certificate, now: Date, what: string): void {
  if (now.getTime() < Date.parse(cert.validFrom)) throw new FactoryChainError('not-yet-valid', `${what} is not valid before ${new Date(cert.validFrom).toISOString()}`);
  if (now.getTime() > Date.parse(cert.validTo)) throw new FactoryChainError('expired', `${what} expired at ${new Date(cert.validTo).toISOString()}`);
}

function subjectAttributes(der: Uint8Array): { serial: string | undefined; organization: string | undefined; model: string | undefined } {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch {
    throw new FactoryChainError('malformed', 'the factory certificate does not parse');
  }
  const attribute = (type: string): string | undefined => {
    for (const rdn of cert.tbsCertificate.subject) for (const atv of rdn) if (atv.type === type) return atv.value.toString();
    return undefined;
  };
  const modelExtension = cert.tbsCertificate.extensions?.find((e) => e.extnID === OID_HEARTH_DEVICE_MODEL);
  let model: string | undefined;
  if (modelExtension) {
    try {
      model = decodeDeviceModel(modelExtension.extnValue.buffer);
    } catch {
      throw new FactoryChainError('malformed', 'the factory certificate has a device-model extension that does not parse');
    }
  }
  return { serial: attribute(OID_SERIAL_NUMBER), organization: attribute(OID_ORGANIZATION), model };
}

interface VerifiedIssuer {
  manufacturer: string;
  certificate: X509Certificate;
}

export class FactoryChainVerifier {
  private readonly roots: { manufacturer: string; certificate: X509Certificate; sha256: string }[];
  /** Issuers (intermediates) whose path to a root was verified, by DER digest. */
  private readonly verified = new Map<string, VerifiedIssuer>();

  constructor(roots: readonly TrustedRoot[]) {
    this.roots = roots.map((root) => ({ manufacturer: root.manufacturer, certificate: parse(root.der, 'a registered root'), sha256: hex(root.der) }));
  }

  /** The root (registered) that issued `cert`, or undefined. */
  private rootIssuing(cert: X509Certificate): { manufacturer: string; certificate: X509Certificate } | undefined {
    return this.roots.find((root) => cert.checkIssued(root.certificate) && cert.verify(root.certificate.publicKey));
  }

  /**
   * The issuer chain from x5c[1] up: each checked against the next, the top one against a root.
   * A chain that ends with the root itself is accepted, as WebAuthn allows.
   */
  private verifyIssuers(chain: readonly Uint8Array[], now: Date): VerifiedIssuer {
    const top = chain[chain.length - 1] as Uint8Array;
    const topDigest = hex(top);
    const asRoot = this.roots.find((root) => root.sha256 === topDigest);
    const certificates = chain.map((der, i) => parse(der, `certificate ${i + 1} of the chain`));
    certificates.forEach((cert, i) => {
      if (!cert.ca) throw new FactoryChainError('not-a-ca', `certificate ${i + 1} of the chain issues the one below it but is not a CA`);
      checkValidity(cert, now, `certificate ${i + 1} of the chain`);
    });
    const cached = this.verified.get(chain.map(hex).join(','));
    if (cached) return cached;
    for (let i = 0; i + 1 < certificates.length; i++) {
      const [cert, issuer] = [certificates[i] as X509Certificate, certificates[i + 1] as X509Certificate];
      if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) throw new FactoryChainError('bad-signature', `certificate ${i + 1} of the chain is not signed by certificate ${i + 2}`);
    }
    const topCert = certificates[certificates.length - 1] as X509Certificate;
    const root = asRoot ?? this.rootIssuing(topCert);
    if (!root) throw new FactoryChainError('unknown-root', 'the factory chain does not lead to a registered manufacturer root');
    if (!asRoot) checkValidity(root.certificate, now, 'the manufacturer root');
    const result = { manufacturer: root.manufacturer, certificate: certificates[0] as X509Certificate };
    this.verified.set(chain.map(hex).join(','), result);
    return result;
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
      if (!leaf.checkIssued(issuer.certificate) || !leaf.verify(issuer.certificate.publicKey)) {
        throw new FactoryChainError('bad-signature', 'the factory certificate is not signed by the intermediate that follows it');
      }
      manufacturer = issuer.manufacturer;
    }
    const { serial, organization, model } = subjectAttributes(leafDer);
    if (!serial) throw new FactoryChainError('no-serial', 'the factory certificate names no serialNumber');
    return {
      manufacturer,
      serial,
      model,
      organization,
      certificateSha256: hex(leafDer),
      keySha256: hex(leaf.publicKey.export({ type: 'spki', format: 'der' })),
      publicKey: leaf.publicKey,
      notAfter: new Date(leaf.validTo),
    };
  }
}
