/**
 * For sensors that cannot do mTLS, and for the programs that speak for them: gets a token from
 * the gateway's pairing endpoint by answering its challenge with the pairing key, and numbers
 * messages with the counter the gateway's replay window checks. The token is the MQTT CONNECT
 * password on the gateway's sensor listener (username: the sensor id).
 */
import { pairingProof, COUNTER_PROPERTY } from '../protocols/sensor-pairing.js';
import type { HttpsTransport } from './https-transport.js';

export interface SensorTokenRequest {
  /** https://gateway:8885 (or http://127.0.0.1:8885 on a loopback-plaintext gateway). */
  baseUrl: string;
  sensorId: string;
  /** The pairing key `hearth sensor pair` handed out. */
  key: Uint8Array;
  /** The gateway's name, which the proof is bound to. */
  audience: string;
  /** HTTPS to the gateway, trusting the installation's root; plain fetch when absent (loopback). */
  transport?: HttpsTransport;
}

export interface IssuedSensorToken {
  token: string;
  expiresAt: Date;
}

async function postJson(request: SensorTokenRequest, path: string, body: unknown): Promise<Record<string, unknown>> {
  const url = new URL(path, request.baseUrl).toString();
  const text = JSON.stringify(body);
  let status: number;
  let answer: string;
  if (request.transport) {
    const response = await request.transport.send('POST', url, text, { 'content-type': 'application/json' });
    status = response.status;
    answer = response.body.toString('utf8');
  } else {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    status = response.status;
    answer = await response.text();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer);
  } catch {
    throw new Error(`${url} answered ${status} with something that is not JSON`);
  }
  if (status !== 200 || typeof parsed !== 'object' || parsed === null) {
    const detail = (parsed as { detail?: unknown } | null)?.detail;
    throw new Error(`${url} answered ${status}${typeof detail === 'string' ? `: ${detail}` : ''}`);
  }
  return parsed as Record<string, unknown>;
}

/** Challenge, proof, token: two requests. */
export async function requestSensorToken(request: SensorTokenRequest): Promise<IssuedSensorToken> {
  const issued = await postJson(request, '/sensor/v1/challenge', { sensorId: request.sensorId });
  if (typeof issued.challenge !== 'string') throw new Error('the gateway sent no challenge');
  const proof = pairingProof(request.key, request.sensorId, request.audience, issued.challenge);
  const answer = await postJson(request, '/sensor/v1/token', { sensorId: request.sensorId, challenge: issued.challenge, proof });
  if (typeof answer.token !== 'string' || typeof answer.expiresAt !== 'string') throw new Error('the gateway sent no token');
  return { token: answer.token, expiresAt: new Date(answer.expiresAt) };
}

/**
 * The counter a sensor puts on each message. It must only grow, across reboots too: a sensor that
 * keeps no state starts from the time (e.g. milliseconds since the epoch at boot) and counts up.
 */
export class SensorMessageCounter {
  constructor(private last: number) {
    if (!Number.isSafeInteger(last) || last < 0) throw new RangeError('the counter starts at a non-negative integer');
  }

  /** MQTT 5 publish properties carrying the next counter. */
  next(): { userProperties: Record<string, string> } {
    this.last++;
    return { userProperties: { [COUNTER_PROPERTY]: String(this.last) } };
  }

  get value(): number {
    return this.last;
  }
}
