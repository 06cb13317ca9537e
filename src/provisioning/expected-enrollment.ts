import type { EnrollmentRecord } from '../store/provisioning-store.js';

/** A device Hearth now expects: not enrolled, not claimed, no failures yet. */
export function expectedEnrollment(
  fields: Pick<
    EnrollmentRecord,
    'deviceId' | 'manufacturer' | 'model' | 'serial' | 'batchId' | 'factoryCertSha256' | 'factoryKeySha256' | 'setupCodeHash' | 'createdAt'
  >,
): EnrollmentRecord {
  return {
    ...fields,
    state: 'expected',
    certificateSerial: null,
    enrolledAt: null,
    home: null,
    claimedAt: null,
    claimFailures: 0,
    operationalKeySha256: null,
    rekeys: 0,
    stateReason: null,
  };
}
