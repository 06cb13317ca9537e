/**
 * A refusal of homeowner sign-in (a passkey, an invitation, a recovery code, a session, CSRF and
 * Origin checks), with a stable problem type. When the refusal concerns a known account (a
 * passkey's counter went back, a session's request came without its CSRF token) the account is
 * named, so the refusal is recorded as a security event about it; a refusal of an unknown
 * credential is only counted, so nobody fills the store by sending garbage.
 */
import { HearthError } from '../core/errors.js';

export type SignInRefusalType =
  | 'passkey-not-recognised'
  | 'passkey-response-invalid'
  | 'challenge-expired'
  | 'challenge-mismatch'
  | 'origin-mismatch'
  | 'rp-id-mismatch'
  | 'user-verification-required'
  | 'user-handle-mismatch'
  | 'counter-regression'
  | 'invitation-unknown'
  | 'invitation-expired'
  | 'invitation-used'
  | 'recovery-code-invalid'
  | 'session-required'
  | 'csrf-mismatch'
  | 'last-passkey';

const STATUS: Record<SignInRefusalType, number> = {
  'passkey-not-recognised': 401,
  'passkey-response-invalid': 400,
  'challenge-expired': 403,
  'challenge-mismatch': 403,
  'origin-mismatch': 403,
  'rp-id-mismatch': 403,
  'user-verification-required': 403,
  'user-handle-mismatch': 403,
  'counter-regression': 403,
  'invitation-unknown': 403,
  'invitation-expired': 403,
  'invitation-used': 403,
  'recovery-code-invalid': 401,
  'session-required': 401,
  'csrf-mismatch': 403,
  'last-passkey': 409,
};

export class SignInRefusal extends HearthError {
  constructor(
    type: SignInRefusalType,
    detail: string,
    /** The account concerned, when it is known. */
    readonly account?: string,
  ) {
    super(type, STATUS[type], 'Sign-in refused', detail);
  }
}
