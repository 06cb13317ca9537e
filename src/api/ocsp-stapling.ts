/**
 * OCSP stapling for the control plane's own TLS certificate: a client that asks for certificate
 * status in its handshake gets the responder's signed answer with it, and need not ask the OCSP
 * URL itself. The answer comes from the in-process responder, which signs it once and serves it
 * from its cache until half its validity has passed, so a handshake costs a map lookup.
 */
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from '../core/logger.js';
import type { OcspResponder } from '../authority/ocsp-responder.js';
import { certificateFacts } from '../pki/certificate-facts.js';
import { singleOcspRequest, type OcspIssuer } from '../pki/ocsp-request.js';

export function stapleOcspResponses(server: HttpsServer, responder: OcspResponder, issuer: () => OcspIssuer, logger: Logger): void {
  let failing = false;
  server.on('OCSPRequest', (certificate: Buffer, _issuer: Buffer | null, callback: (error: Error | null, response?: Buffer | null) => void) => {
    const serial = certificateFacts(certificate).serialHex;
    responder
      .respond(singleOcspRequest(issuer(), serial))
      .then((der) => {
        if (failing) logger.info({ serial }, 'OCSP stapling works again');
        failing = false;
        callback(null, Buffer.from(der));
      })
      .catch((err: unknown) => {
        // The handshake goes on without a staple; the client may still ask the OCSP URL. Logged
        // once per outage, not once per handshake.
        if (!failing) logger.error({ err, serial }, 'no OCSP response to staple; handshakes go on without one');
        failing = true;
        callback(null, null);
      });
  });
}
