/** RFC 5280 §5.3.1 CRLReason codes; 7 is unassigned. OCSP (RFC 6960) reuses the same codes. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReasonName = keyof typeof REVOCATION_REASONS;

/** The reasons a revocation may be asked for: removeFromCRL belongs to delta CRLs and
 * certificateHold would promise an un-revoke Hearth does not offer. */
export const REQUESTABLE_REVOCATION_REASONS: readonly RevocationReasonName[] = (Object.keys(REVOCATION_REASONS) as RevocationReasonName[]).filter(
  (r) => r !== 'removeFromCRL' && r !== 'certificateHold',
);
export type RevocationReasonCode = (typeof REVOCATION_REASONS)[RevocationReasonName];

const CODES: ReadonlySet<number> = new Set(Object.values(REVOCATION_REASONS));

export function isRevocationReasonCode(value: unknown): value is RevocationReasonCode {
  return typeof value === 'number' && CODES.has(value);
}

/** The RFC 5280 name of a reason code, as CRLs and the transparency log spell it. */
export function revocationReasonName(code: RevocationReasonCode): RevocationReasonName {
  return (Object.keys(REVOCATION_REASONS) as RevocationReasonName[]).find((name) => REVOCATION_REASONS[name] === code) as RevocationReasonName;
}
