/** Listening and closing for the gateway's TCP and TLS servers, with port 0 resolved to the real port. */
import type { AddressInfo, Server, Socket } from 'node:net';

export async function listenOn(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting; resolves when the connections already open have ended. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Drops a new connection from an address over its connect rate before it costs a TLS handshake
 * or an MQTT parser; other addresses connect as usual.
 */
export function refuseConnectFloods(
  server: Server,
  connectRate: { readonly enabled: boolean; admit(address: string): boolean },
  onLimited?: (address: string) => void,
): void {
  // Turned off: no listener, so no getpeername(2) per connection for a check that admits all.
  if (!connectRate.enabled) return;
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    if (connectRate.admit(address)) return;
    onLimited?.(address);
    socket.destroy();
  });
}
