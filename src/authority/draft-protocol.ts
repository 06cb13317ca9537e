/**
 * What the authority and its draft workers say to each other. Errors cross the thread boundary as
 * plain data and are rebuilt as the same HearthError, so a client gets the same problem whichever
 * thread refused its request; anything else stays an internal error.
 */
import { BadCsrError, BadRequestError, ConflictError, HearthError, LintError } from '../core/errors.js';
import type { CertificateDraft } from './certificate-draft.js';

export interface DraftJob {
  id: number;
  profile: string;
  ca: string;
  csr: string | Uint8Array;
  /** The authority's clock at the time of the request, in ms. */
  now: number;
  mudUrl?: string;
}

export type TransportedError =
  { hearth: true; name: string; slug: string; status: number; title: string; message: string; findings?: string[] } | { hearth: false; message: string };

export type DraftOutcome = { id: number; ok: true; draft: CertificateDraft } | { id: number; ok: false; error: TransportedError };

export function errorForTransport(error: unknown): TransportedError {
  if (error instanceof HearthError) {
    return {
      hearth: true,
      name: error.name,
      slug: error.slug,
      status: error.status,
      title: error.title,
      message: error.message,
      ...(error instanceof LintError ? { findings: error.findings } : {}),
    };
  }
  return { hearth: false, message: error instanceof Error ? error.message : String(error) };
}

export function errorFromTransport(error: TransportedError): Error {
  if (!error.hearth) return new Error(`drafting failed: ${error.message}`);
  switch (error.name) {
    case 'LintError':
      return new LintError(error.findings ?? [error.message]);
    case 'BadCsrError':
      return new BadCsrError(error.message);
    case 'BadRequestError':
      return new BadRequestError(error.message, error.slug);
    case 'ConflictError':
      return new ConflictError(error.message, error.slug);
    default:
      return new HearthError(error.slug, error.status, error.title, error.message);
  }
}
