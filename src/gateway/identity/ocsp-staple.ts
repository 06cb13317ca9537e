/**
 * OCSP stapling for the gateway's own certificate: a device or sensor that asks for certificate
 * status in its handshake gets the control plane's signed answer with it, and need not reach the
 * OCSP URL itself (a device on the home network often cannot).
 *
 * The gateway asks the OCSP URL of its certificate's authorityInfoAccess (plain HTTP POST, as RFC
 * 5019 clients do), keeps the answer, and asks again at half its validity and whenever its
 * certificate is renewed. A handshake costs a buffer comparison. Without an answer (the control
 * plane unreachable, or its answer unusable) handshakes go on without a staple, never fail; the
 * outage is logged once, not once per handshake or retry.
 */
import type { Server as TlsServer } from 'node:tls';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { pemDecodeAll } from '../../pki/certificate-assembly.js';
import { certificateFacts } from '../../pki/certificate-facts.js';
import { singleOcspRequest, type OcspIssuer } from '../../pki/ocsp-request.js';
import { ocspUrlOf, readOcspResponseFor, type StapleableOcspResponse } from '../../pki/ocsp-response-reading.js';

export interface OcspStapleOptions {
  clock: Clock;
  logger: Logger;
  /** How soon a fetch that failed is tried again. */
  retryMs?: number;
  /** How long one fetch may take. */
  fetchTimeoutMs?: number;
}

interface Subject {
  leafDer: Buffer;
  serial: string;
  issuer: OcspIssuer;
  url: string | undefined;
}

/** Far more than a one-certificate answer signed with P-384 (well under 1 KiB): a cap, not a size. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** setTimeout's largest delay (about 24.8 days). */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class OcspStaple {
  private subject: Subject | undefined;
  private staple: { der: Buffer; answer: StapleableOcspResponse } | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bumped by each new certificate: a fetch begun for the one before is not kept. */
  private generation = 0;
  private inflight: Promise<void> | undefined;
  private failing = false;
  private stopped = false;
  /** Aborts a fetch under way when the gateway closes. */
  private readonly closing = new AbortController();
  private readonly retryMs: number;
  private readonly fetchTimeoutMs: number;

  constructor(private readonly options: OcspStapleOptions) {
    this.retryMs = options.retryMs ?? 60_000;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? 10_000;
  }

  /**
   * The gateway's certificate chain (its certificate, then the issuing CA), at start and after each
   * renewal: the staple about the certificate before is dropped and the new one fetched.
   */
  setCertificate(chainPem: string): Promise<void> {
    const [leaf, issuer] = pemDecodeAll(chainPem, 'CERTIFICATE');
    if (!leaf || !issuer) throw new Error('the gateway certificate chain needs the certificate and its issuing CA');
    const facts = certificateFacts(leaf);
    const issuerFacts = certificateFacts(issuer);
    this.generation++;
    this.staple = undefined;
    this.subject = {
      leafDer: Buffer.from(leaf),
      serial: facts.serialHex,
      issuer: { nameDer: issuerFacts.subjectNameDer, publicKeyBits: issuerFacts.publicKeyBits },
      url: ocspUrlOf(leaf),
    };
    this.inflight = undefined;
    if (!this.subject.url) {
      this.options.logger.warn({ serial: facts.serialHex }, 'the gateway certificate names no OCSP URL; handshakes go without a staple');
      this.schedule(undefined);
      return Promise.resolve();
    }
    return this.refresh();
  }

  /** Fetches the answer now (joining a fetch under way); never rejects. */
  refresh(): Promise<void> {
    if (this.stopped || !this.subject?.url) return Promise.resolve();
    if (this.inflight) return this.inflight;
    const fetching: Promise<void> = this.fetchAndKeep(this.generation).finally(() => {
      // A new certificate may have started a fetch of its own meanwhile: that one stays.
      if (this.inflight === fetching) this.inflight = undefined;
    });
    this.inflight = fetching;
    return fetching;
  }

  /** Answers the server's OCSPRequest events with the staple, for the certificate it is about. */
  attach(server: TlsServer): void {
    server.on('OCSPRequest', (certificate: Buffer, _issuer: Buffer | null, callback: (error: Error | null, response?: Buffer | null) => void) => {
      callback(null, this.stapleFor(certificate) ?? null);
    });
  }

  /** The answer to staple to a handshake presenting `certificate` (DER), if one is fresh. */
  stapleFor(certificate: Buffer): Buffer | undefined {
    const { staple, subject } = this;
    // Just after a renewal a server may still present the certificate before: no staple for it.
    if (!staple || !subject || !certificate.equals(subject.leafDer)) return undefined;
    return staple.answer.nextUpdate > this.options.clock.now() ? staple.der : undefined;
  }

  /** What is stapled now, for /healthz. */
  status(): { status: string; nextUpdate: string } | undefined {
    return this.staple ? { status: this.staple.answer.status, nextUpdate: this.staple.answer.nextUpdate.toISOString() } : undefined;
  }

  stop(): void {
    this.stopped = true;
    this.closing.abort();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async fetchAndKeep(generation: number): Promise<void> {
    const subject = this.subject as Subject;
    try {
      const der = await this.fetchResponse(subject);
      const answer = readOcspResponseFor(der, subject.serial, subject.issuer, this.options.clock.now());
      if (generation !== this.generation || this.stopped) return;
      this.staple = { der: Buffer.from(der), answer };
      if (this.failing) this.options.logger.info({ serial: subject.serial, status: answer.status }, 'OCSP stapling works again');
      this.failing = false;
      if (answer.status !== 'good')
        this.options.logger.error({ serial: subject.serial, status: answer.status }, 'the OCSP responder says the gateway certificate is not good');
      this.schedule(answer);
    } catch (err) {
      if (generation !== this.generation || this.stopped) return;
      if (!this.failing)
        this.options.logger.error(
          { serial: subject.serial, url: subject.url, detail: (err as Error).message },
          'no OCSP response to staple; handshakes go on without one until it is fetched again',
        );
      this.failing = true;
      this.schedule(undefined);
    }
  }

  private async fetchResponse(subject: Subject): Promise<Uint8Array> {
    const url = new URL(subject.url as string);
    // RFC 5019 §5: OCSP goes over plain HTTP; the answer is signed, and TLS to it could need OCSP itself.
    if (url.protocol !== 'http:') throw new Error(`the OCSP URL ${url.href} is not plain HTTP`);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
      body: new Uint8Array(singleOcspRequest(subject.issuer, subject.serial)),
      signal: AbortSignal.any([AbortSignal.timeout(this.fetchTimeoutMs), this.closing.signal]),
      redirect: 'error',
    });
    if (response.status !== 200) throw new Error(`the OCSP responder answered HTTP ${response.status}`);
    const type = response.headers.get('content-type') ?? '';
    if (type.split(';')[0]?.trim().toLowerCase() !== 'application/ocsp-response')
      throw new Error(`the OCSP responder answered ${type || 'without a content type'}, not application/ocsp-response`);
    const length = Number(response.headers.get('content-length') ?? '0');
    if (length > MAX_RESPONSE_BYTES) throw new Error(`the OCSP response of ${length} bytes is over ${MAX_RESPONSE_BYTES}`);
    const body = new Uint8Array(await response.arrayBuffer());
    if (body.length > MAX_RESPONSE_BYTES) throw new Error(`the OCSP response of ${body.length} bytes is over ${MAX_RESPONSE_BYTES}`);
    return body;
  }

  /** The next fetch: at half the answer's validity (as the responder re-signs), or a retry. */
  private schedule(answer: StapleableOcspResponse | undefined): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped || !this.subject?.url) return;
    let delay = this.retryMs;
    if (answer) {
      const half = answer.thisUpdate.getTime() + (answer.nextUpdate.getTime() - answer.thisUpdate.getTime()) / 2;
      delay = Math.max(5_000, half - this.options.clock.now().getTime());
    }
    this.timer = setTimeout(() => void this.refresh(), Math.min(delay, MAX_DELAY_MS));
    this.timer.unref();
  }
}
