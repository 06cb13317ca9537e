/**
 * The plain-HTTP side relying parties expect (RFC 5280 CRL DP, RFC 6960 OCSP, AIA caIssuers):
 * GET/POST /ocsp, GET /crl/<ca>.crl, GET /ca/<name>.crt. HTTP, not HTTPS, on purpose: the objects
 * are signed, and a TLS check that itself needs OCSP would go round in circles.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NotFoundError } from '../../core/errors.js';
import { UnsupportedMediaTypeError } from '../../http/problem.js';
import { decodeOcspGetPath } from '../../pki/ocsp.js';
import type { CrlPublisher } from '../../authority/crl-publisher.js';
import type { OcspResponder } from '../../authority/ocsp-responder.js';
import type { RootCrlSource } from '../../authority/root-crl.js';

const OCSP_REQUEST_LIMIT = 16 * 1024;

export function registerRevocationStatusRoutes(
  app: FastifyInstance,
  deps: { crls: CrlPublisher; rootCrl: RootCrlSource; ocsp: OcspResponder; caCertificates: ReadonlyMap<string, Uint8Array>; crlMaxAgeSeconds: number },
): void {
  app.addContentTypeParser('application/ocsp-request', { parseAs: 'buffer', bodyLimit: OCSP_REQUEST_LIMIT }, (_req, body, done) => done(null, body));

  const sendOcsp = (der: Uint8Array, reply: FastifyReply) => reply.header('content-type', 'application/ocsp-response').send(Buffer.from(der));

  app.post('/ocsp', async (request, reply) => {
    const body = request.body;
    if (!Buffer.isBuffer(body)) throw new UnsupportedMediaTypeError('expected Content-Type: application/ocsp-request');
    return sendOcsp(await deps.ocsp.respond(body), reply.header('cache-control', 'no-store'));
  });

  // RFC 5019 section 6: GET responses may be cached by HTTP caches, but only briefly here, so a
  // revocation is not hidden behind a cache for longer than a minute.
  app.get<{ Params: { '*': string } }>('/ocsp/*', async (request, reply) => {
    const der = decodeOcspGetPath(request.params['*']);
    // decodeOcspGetPath returns undefined for undecodable input; the responder answers
    // malformedRequest for anything that is not a valid OCSPRequest.
    return sendOcsp(await deps.ocsp.respond(der ?? new Uint8Array()), reply.header('cache-control', 'public, max-age=60, no-transform, must-revalidate'));
  });

  app.get<{ Params: { ca: string } }>('/crl/:ca', async (request, reply) => {
    const name = request.params.ca.replace(/\.crl$/, '');
    // The root's CRL is signed offline and read from the data directory; the issuing CAs' are made here.
    const crl = name === 'root' ? await deps.rootCrl.current() : await deps.crls.crl(name);
    return (
      reply
        .header('content-type', 'application/pkix-crl')
        .header('last-modified', crl.thisUpdate.toUTCString())
        // Not until nextUpdate: a new CRL follows every revocation, and caches must not hide it.
        .header('cache-control', `public, max-age=${Math.min(deps.crlMaxAgeSeconds, 300)}, must-revalidate`)
        .send(Buffer.from(crl.der))
    );
  });

  app.get<{ Params: { name: string } }>('/ca/:name', async (request, reply) => {
    const name = request.params.name.replace(/\.crt$/, '');
    const der = deps.caCertificates.get(name);
    if (!der) throw new NotFoundError(`no CA certificate named "${name}"`);
    return reply.header('content-type', 'application/pkix-cert').send(Buffer.from(der));
  });
}
