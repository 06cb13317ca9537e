/** The JSON payload of a verified ACME request, where the RFC wants an object. */
import { AcmeError } from './acme-error.js';

/** An empty payload (POST-as-GET) reads as `{}`; anything but a JSON object is malformed. */
export function payloadObject(payload: unknown): Record<string, unknown> {
  if (payload === undefined) return {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new AcmeError('malformed', 'the payload must be a JSON object');
  return payload as Record<string, unknown>;
}
