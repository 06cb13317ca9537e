/**
 * The plain-HTTP revocation server (OCSP, CRLs, CA certificates, health). It starts before the
 * authority: with port 0 (tests) its real port is known only once it listens, and the authority
 * puts that port into the AIA and CRL URLs of every certificate it signs.
 */
import type { AddressInfo } from 'node:net';
import type { Closer } from '../core/closer.js';
import type { CrlPublisher } from '../authority/crl-publisher.js';
import type { OcspResponder } from '../authority/ocsp-responder.js';
import { RootCrlSource } from '../authority/root-crl.js';
import { serverApp } from '../api/server-app.js';
import { registerOperationalRoutes, storeReachability } from '../api/routes/operational.js';
import { registerRevocationStatusRoutes } from '../api/routes/revocation-status.js';
import type { Foundations } from './foundations.js';

export interface RevocationServer {
  port: number;
  rootCrl: RootCrlSource;
  /** DER of the root and of each issuing CA, by name, as served under /ca/. */
  caCertificates: Map<string, Uint8Array>;
}

export async function startRevocationServer(
  f: Foundations,
  responders: { crls: CrlPublisher; ocsp: OcspResponder },
  closer: Closer,
): Promise<RevocationServer> {
  const http = serverApp(f.logger, f.metrics, 'http', { bodyLimit: f.config.server.bodyLimit });
  closer.add(() => http.close());
  const caCertificates = new Map<string, Uint8Array>([
    ['root', f.root.der],
    ...[...f.cas.values()].map((c) => [c.name, c.certificate.der] as [string, Uint8Array]),
  ]);
  const rootCrl = new RootCrlSource(f.layout, f.root);
  registerRevocationStatusRoutes(http, { ...responders, rootCrl, caCertificates, crlMaxAgeSeconds: f.config.crl.refreshSeconds });
  registerOperationalRoutes(http, storeReachability(f.store));
  await http.listen({ host: f.config.server.host, port: f.config.server.httpPort });
  return { port: (http.server.address() as AddressInfo).port, rootCrl, caCertificates };
}
