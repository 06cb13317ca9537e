/**
 * The floor any broker on Node.js stands on, for `npm run bench -- gateway`: node:tls with the
 * gateway's own TLS settings (src/core/tls-policy.ts, its key and certificate, a client
 * certificate requested and checked against the devices CA and root) and no MQTT beyond the least
 * a client needs: a CONNACK for each CONNECT, the socket closed on DISCONNECT. What this process
 * spends per handshake and holds per idle connection is Node's and OpenSSL's; the gateway's
 * figures above it are what Hearth itself adds.
 *
 * `node node-tls-floor.js <key.pem> <cert.pem> <ca.pem>` prints `floor port <N>` once listening.
 */
import { constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import { tlsServerPolicy } from '../src/core/tls-policy.js';

const [keyFile, certFile, caFile] = process.argv.slice(2);
if (!keyFile || !certFile || !caFile) {
  console.error('usage: node-tls-floor <key.pem> <cert.pem> <ca.pem>');
  process.exit(2);
}

const CONNACK_311 = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const CONNACK_5 = Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]);

const server = createServer({
  key: readFileSync(keyFile),
  cert: readFileSync(certFile),
  ca: readFileSync(caFile),
  requestCert: true,
  rejectUnauthorized: false,
  ...tlsServerPolicy('TLSv1.3'),
  // As the gateway by default (gateway.yaml mqtt.tlsSessionTickets: false).
  secureOptions: constants.SSL_OP_NO_TICKET,
});
server.on('secureConnection', (socket: TLSSocket) => {
  socket.setNoDelay(true);
  // The same question the gateway asks of every connection: who is this?
  if (!socket.authorized || !socket.getPeerX509Certificate()) {
    socket.destroy();
    return;
  }
  socket.on('data', (chunk: Buffer) => {
    // The load generator sends CONNECT whole in one record; its 7th byte after the fixed header
    // is the protocol level (4 or 5).
    if (chunk[0] === 0x10) socket.write(chunk[8] === 5 ? CONNACK_5 : CONNACK_311);
    else if (chunk[0] === 0xe0) socket.destroy(); // as the gateway closes after a client's DISCONNECT
  });
  socket.on('error', () => socket.destroy());
});
server.on('tlsClientError', () => {});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(`floor port ${typeof address === 'object' && address ? address.port : 0}`);
});
process.on('SIGTERM', () => process.exit(0));
