/**
 * The device SDK's agent: at first boot it enrolls over ACME with device-attest-01 (its factory
 * key attests a new operational key, which never leaves the device), then keeps its short-lived
 * certificate fresh by renewal information (RFC 9773) with jitter, retrying with backoff across
 * outages. Every step can be repeated after a crash or a reboot: the identity store says where
 * the device stands, and the server's orders are cheap to start again.
 */
import 'reflect-metadata';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { encodePackedAttestation, type AttestationSigner } from '../protocols/packed-attestation.js';
import { AcmeClient, AcmeProblemError } from './acme-client.js';
import { DEFAULT_BACKOFF, withBackoff, type BackoffOptions } from './backoff.js';
import { createRequestForKey } from '../pki/certificate-request.js';
import { orderCertificate, type ChallengeSolver } from './certificate-order.js';
import { HttpsTransport, TransportError } from './https-transport.js';
import type { DeviceIdentityStore } from './identity-store.js';
import { chooseRenewalTime, defaultWindow } from './renewal-plan.js';

export interface FactoryCredentials {
  /** DER chain: the factory certificate first, then its intermediate(s). */
  chain: Uint8Array[];
  signer: AttestationSigner;
}

export interface DeviceAgentOptions {
  /** https://<control plane>/acme/directory */
  directoryUrl: string;
  /** The CA that signs the control plane's TLS certificate (the installation's root). */
  caPem: string;
  deviceId: string;
  factory: FactoryCredentials;
  store: DeviceIdentityStore;
  /** Share one among many simulated devices; made from caPem otherwise. */
  transport?: HttpsTransport;
  now?: () => Date;
  random?: () => number;
  backoff?: Partial<Omit<BackoffOptions, 'retryable'>>;
  onEvent?: (event: DeviceEvent) => void;
}

export type DeviceEvent =
  | { type: 'enrolled' | 'renewed'; serial: string; notAfter: Date; ms: number }
  | { type: 'retry'; error: string; attempt: number; waitMs: number }
  | { type: 'renewal-planned'; at: Date }
  | { type: 'key-replaced'; reason: string };

export interface DeviceCredentials {
  keyPem: string;
  certificatePem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** Refusals that another attempt cannot change: the device is not admitted, or its request is wrong. */
const PERMANENT = new Set([
  'badAttestationStatement',
  'rejectedIdentifier',
  'unauthorized',
  'badCSR',
  'unsupportedIdentifier',
  'unsupportedChallenge',
  'malformed',
  'accountDoesNotExist',
]);

export function isRetryable(error: unknown): { retry: boolean; afterMs?: number } {
  if (error instanceof TransportError) return { retry: true };
  if (error instanceof AcmeProblemError) {
    if (PERMANENT.has(error.type)) return { retry: false };
    return {
      retry: error.status === 0 || error.status >= 500 || error.status === 429 || error.type === 'badNonce' || error.type === 'orderNotReady',
      ...(error.retryAfterMs !== undefined ? { afterMs: error.retryAfterMs } : {}),
    };
  }
  return { retry: false };
}

/**
 * A serial number's DER INTEGER content octets, as RFC 9773 names it: minimal, and with a 00 in
 * front when the high bit is set, so a positive serial never reads as negative.
 */
export function serialIntegerOctets(serialHex: string): Buffer {
  let bytes = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex');
  while (bytes.length > 1 && bytes[0] === 0 && ((bytes[1] as number) & 0x80) === 0) bytes = bytes.subarray(1);
  return (bytes[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

/** RFC 9773 4.1 certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial octets). */
export function certificateId(certificatePem: string): string {
  const certificate = new x509.X509Certificate(certificatePem);
  const aki = certificate.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) throw new Error('the certificate has no authority key identifier');
  return `${Buffer.from(aki.keyId, 'hex').toString('base64url')}.${serialIntegerOctets(certificate.serialNumber).toString('base64url')}`;
}

export class DeviceAgent {
  private readonly transport: HttpsTransport;
  private readonly ownsTransport: boolean;
  private client: AcmeClient | undefined;
  private readonly now: () => Date;
  private readonly random: () => number;

  constructor(private readonly options: DeviceAgentOptions) {
    this.transport = options.transport ?? new HttpsTransport({ caPem: options.caPem });
    this.ownsTransport = !options.transport;
    this.now = options.now ?? (() => new Date());
    this.random = options.random ?? Math.random;
  }

  close(): void {
    if (this.ownsTransport) this.transport.close();
  }

  private async acme(): Promise<AcmeClient> {
    if (!this.client) {
      const client = new AcmeClient(this.transport, this.options.directoryUrl, await this.options.store.key('account'));
      const state = await this.options.store.readState();
      if (state.accountUrl && state.directoryUrl === this.options.directoryUrl) client.accountUrl = state.accountUrl;
      this.client = client;
    }
    if (!this.client.accountUrl) {
      const url = await this.client.account();
      await this.options.store.writeState({ ...(await this.options.store.readState()), accountUrl: url, directoryUrl: this.options.directoryUrl });
    }
    return this.client;
  }

  /** The current certificate and key, or undefined before enrollment. */
  async credentials(): Promise<DeviceCredentials | undefined> {
    const pem = await this.options.store.readCertificate();
    if (!pem) return undefined;
    const leaf = new X509Certificate(pem);
    const key = await this.options.store.key('device');
    // After a key replacement and before the new certificate arrives, the stored certificate is
    // the old key's: the device holds no usable certificate then.
    if (!leaf.publicKey.equals(createPublicKey(key))) return undefined;
    return {
      keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
      certificatePem: pem,
      serial: leaf.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, ''),
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
    };
  }

  /** Options for tls.connect / mqtt.connect to a gateway: the device's key and chain, trusting `caPem`. */
  async tlsOptions(): Promise<{ key: string; cert: string; ca: string }> {
    const credentials = await this.credentials();
    if (!credentials) throw new Error(`${this.options.deviceId} has no certificate yet: enroll first`);
    return { key: credentials.keyPem, cert: credentials.certificatePem, ca: this.options.caPem };
  }

  private solver(operationalKey: KeyObject): ChallengeSolver {
    return {
      type: 'device-attest-01',
      prepare: async (_challenge, _authorization, keyAuthorization) => {
        const attObj = await encodePackedAttestation({
          signer: this.options.factory.signer,
          chain: this.options.factory.chain,
          credentialKey: createPublicKey(operationalKey),
          identifier: this.options.deviceId,
          keyAuthorization,
        });
        return { attObj: Buffer.from(attObj).toString('base64url') };
      },
    };
  }

  /** One certificate, first or renewed; attempts are retried with backoff while that can help. */
  private async obtain(kind: 'enrolled' | 'renewed', replaces: string | undefined, signal?: AbortSignal): Promise<DeviceCredentials> {
    const started = performance.now();
    let keyReplaced = false;
    let replaceKeyFirst = false;
    const result = await withBackoff(
      async () => {
        const client = await this.acme();
        if (replaceKeyFirst && this.options.store.replaceKey) {
          replaceKeyFirst = false;
          await this.options.store.replaceKey('device');
          this.options.onEvent?.({ type: 'key-replaced', reason: 'the server refused the operational key (badPublicKey)' });
        }
        const key = await this.options.store.key('device');
        return orderCertificate(client, {
          identifiers: [{ type: 'permanent-identifier', value: this.options.deviceId }],
          solver: this.solver(key),
          csr: () => createRequestForKey(key, { commonName: this.options.deviceId, uris: [this.options.deviceId] }),
          ...(replaces ? { replaces } : {}),
        });
      },
      {
        ...DEFAULT_BACKOFF,
        attempts: Infinity,
        ...this.options.backoff,
        ...(signal ? { signal } : {}),
        retryable: (error) => {
          // A replaced certificate that the server no longer takes as such: order without replaces.
          if (error instanceof AcmeProblemError && error.type === 'alreadyReplaced') replaces = undefined;
          if (error instanceof AcmeProblemError && error.type === 'alreadyReplaced') return { retry: true, afterMs: 0 };
          // The operational key was revoked for keyCompromise and is blocked: attest a new one.
          // The server then supersedes what the old key held; a store that cannot make keys stops here.
          if (error instanceof AcmeProblemError && error.type === 'badPublicKey' && this.options.store.replaceKey && !keyReplaced) {
            keyReplaced = replaceKeyFirst = true;
            replaces = undefined;
            return { retry: true, afterMs: 0 };
          }
          return isRetryable(error);
        },
        onRetry: (error, attempt, waitMs) => this.options.onEvent?.({ type: 'retry', error: (error as Error).message, attempt, waitMs }),
      },
    );
    await this.options.store.writeCertificate(result.pem);
    const credentials = (await this.credentials()) as DeviceCredentials;
    const state = await this.options.store.readState();
    await this.options.store.writeState({
      accountUrl: state.accountUrl,
      directoryUrl: state.directoryUrl,
      certificateSerial: credentials.serial,
      notAfter: credentials.notAfter.toISOString(),
    });
    this.options.onEvent?.({ type: kind, serial: credentials.serial, notAfter: credentials.notAfter, ms: performance.now() - started });
    return credentials;
  }

  /** First boot: enroll when there is no certificate (or only an expired one). */
  async ensureCertificate(signal?: AbortSignal): Promise<DeviceCredentials> {
    const current = await this.credentials();
    if (current && current.notAfter > this.now()) return current;
    return this.obtain('enrolled', undefined, signal);
  }

  /** When this device should renew, from the server's renewal information (or its default window). */
  async renewalTime(): Promise<Date> {
    const current = await this.credentials();
    if (!current) return this.now();
    const state = await this.options.store.readState();
    const now = this.now();
    if (state.renewAt && state.certificateSerial === current.serial && state.recheckAt && new Date(state.recheckAt) > now) return new Date(state.renewAt);
    let window = defaultWindow(current.notBefore, current.notAfter);
    let recheck = 6 * 3600_000;
    try {
      const info = await (await this.acme()).renewalInfo(certificateId(current.certificatePem));
      if (info) {
        window = info;
        recheck = info.retryAfterMs;
      }
    } catch (error) {
      if (!isRetryable(error).retry) throw error;
      recheck = 60_000;
    }
    const sameWindow =
      state.windowStart === window.start.toISOString() && state.windowEnd === window.end.toISOString() && state.certificateSerial === current.serial;
    const renewAt = sameWindow && state.renewAt ? new Date(state.renewAt) : chooseRenewalTime(window, now, this.random);
    await this.options.store.writeState({
      ...state,
      certificateSerial: current.serial,
      renewAt: renewAt.toISOString(),
      windowStart: window.start.toISOString(),
      windowEnd: window.end.toISOString(),
      recheckAt: new Date(now.getTime() + Math.min(recheck, Math.max(1000, current.notAfter.getTime() - now.getTime()))).toISOString(),
    });
    if (!sameWindow) this.options.onEvent?.({ type: 'renewal-planned', at: renewAt });
    return renewAt;
  }

  /** Renews if the planned time has come (or the certificate expired); true when it did. */
  async renewIfDue(signal?: AbortSignal): Promise<boolean> {
    const current = await this.credentials();
    if (!current || current.notAfter <= this.now()) {
      await this.obtain('enrolled', undefined, signal);
      return true;
    }
    if ((await this.renewalTime()) > this.now()) return false;
    await this.obtain('renewed', certificateId(current.certificatePem), signal);
    return true;
  }

  /** Enrolls, then renews for as long as `signal` lets it run. */
  async run(signal: AbortSignal): Promise<void> {
    await this.ensureCertificate(signal);
    while (!signal.aborted) {
      await this.renewIfDue(signal);
      const state = await this.options.store.readState();
      const next = Math.min(Date.parse(state.renewAt ?? '') || Infinity, Date.parse(state.recheckAt ?? '') || Infinity);
      const wait = Math.max(1000, Math.min(next - this.now().getTime(), 3600_000));
      await new Promise<void>((resolve) => {
        const onAbort = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, wait);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}
