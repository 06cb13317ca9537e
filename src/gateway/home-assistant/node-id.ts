/**
 * A device's node id in Home Assistant's discovery topics (`<prefix>/<component>/<node_id>/…`),
 * which may hold only `[a-zA-Z0-9_-]`. It is the device id without its constant `urn:dev:ops:`
 * prefix, with `_`, `.` and `~` (the other characters a device id may hold) escaped as `_u`, `_d`
 * and `_t`: two devices never share a node id, so a command topic names exactly one device.
 */
import { DEVICE_ID_PREFIX } from '../../pki/device-id.js';

const ESCAPES: Record<string, string> = { _: '_u', '.': '_d', '~': '_t' };

export function nodeIdOf(deviceId: string): string {
  const body = deviceId.startsWith(DEVICE_ID_PREFIX) ? deviceId.slice(DEVICE_ID_PREFIX.length) : deviceId;
  // A device id holds only unreserved characters; anything else (never seen) is escaped by code point.
  return body.replace(/[^A-Za-z0-9-]/g, (c) => ESCAPES[c] ?? `_x${c.codePointAt(0)?.toString(16) ?? ''}_`);
}
