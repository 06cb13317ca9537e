/**
 * JSON schema validation of requests, one Ajv per part of the request. Fastify's default coerces
 * every part: a body's `null`, `0` or `"true"` became a boolean, a number became a string, and such
 * requests changed state. A JSON body has types of its own, so it is checked as sent, never
 * coerced. Query strings and path parameters only ever arrive as text (`?limit=10`), so they keep
 * coercion to the types their schemas name. Neither removes properties a schema does not know:
 * a client that sends one has misunderstood the API and hears so (400).
 */
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

function ajv(options: Options): Ajv {
  // allErrors stays off: collecting every error of a hostile body is work an attacker chooses.
  const instance = new Ajv({ useDefaults: true, removeAdditional: false, allErrors: false, ...options });
  addFormats.default(instance);
  return instance;
}

const asSent = ajv({ coerceTypes: false });
const fromText = ajv({ coerceTypes: 'array' });

export const requestValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers' ? fromText : asSent).compile(schema as object);
