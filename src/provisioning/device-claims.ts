/**
 * Claims: a homeowner binds a device to a home by typing (or scanning) its setup code. The code
 * is checked against the manifest's scrypt hash; wrong codes are counted on the device and
 * limited per device per window, so a code cannot be guessed online (2^45 codes, a handful of
 * tries an hour). A claimed device stays with its home until that home releases it.
 */
import type { Clock } from '../core/clock.js';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError, TooManyRequestsError } from '../core/errors.js';
import { parseDeviceId } from '../pki/device-id.js';
import type { Store } from '../store/store.js';
import { parseSetupCode } from './factory/setup-code.js';
import { verifySetupCode } from './factory/setup-code-hash.js';
import type { SecurityEventSink } from './security-events.js';

export interface ClaimLimits {
  /** Wrong codes allowed per device per window before every attempt is refused. */
  failuresPerDevice: number;
  windowSeconds: number;
}

export const DEFAULT_CLAIM_LIMITS: ClaimLimits = { failuresPerDevice: 5, windowSeconds: 3600 };

const HOME_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkHomeId(home: unknown): string {
  if (typeof home !== 'string' || !HOME_ID.test(home))
    throw new BadRequestError('a home id is 1-64 letters, digits, ".", "_" and "-", starting with a letter or digit', 'invalid-home');
  return home;
}

export interface ClaimOutcome {
  deviceId: string;
  home: string;
  claimedAt: string;
  state: string;
}

export class DeviceClaims {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly raise: SecurityEventSink,
    private readonly limits: ClaimLimits = DEFAULT_CLAIM_LIMITS,
  ) {}

  private windowStart(now: Date): Date {
    const size = this.limits.windowSeconds * 1000;
    return new Date(Math.floor(now.getTime() / size) * size);
  }

  async claim(deviceIdInput: string, homeInput: string, codeInput: string): Promise<ClaimOutcome> {
    parseDeviceId(deviceIdInput);
    const deviceId = deviceIdInput;
    const home = checkHomeId(homeInput);
    let code: string;
    try {
      code = parseSetupCode(codeInput);
    } catch (error) {
      // A typo the check character catches tells a guesser nothing, so it is not counted.
      throw new BadRequestError((error as Error).message, 'invalid-setup-code');
    }
    // A home is a record now (hearth home create): a claim binds the device to one that exists.
    if (!(await this.store.homes.getHome(home))) throw new NotFoundError(`no home ${home}; make it first (hearth home create ${home})`, 'unknown-home');
    const now = this.clock.now();
    const windowStart = this.windowStart(now);
    const counterKey = `claimFailures:${deviceId}`;
    const failures = (await this.store.acme.readRateCounters([counterKey], windowStart)).get(counterKey) ?? 0;
    const retryAfter = Math.max(1, Math.ceil((windowStart.getTime() + this.limits.windowSeconds * 1000 - now.getTime()) / 1000));
    if (failures >= this.limits.failuresPerDevice) {
      throw new TooManyRequestsError(
        `too many wrong setup codes for ${deviceId}: at most ${this.limits.failuresPerDevice} per ${this.limits.windowSeconds} s; retry after ${retryAfter} s`,
        retryAfter,
      );
    }
    const enrollment = await this.store.provisioning.getEnrollment(deviceId);
    // An unknown device and a wrong code look the same, so claims cannot probe which serials exist.
    const matches = enrollment?.setupCodeHash ? await verifySetupCode(code, enrollment.setupCodeHash) : false;
    if (!enrollment || !matches) {
      await this.store.acme.hitRateCounters([counterKey], windowStart, new Date(windowStart.getTime() - this.limits.windowSeconds * 1000));
      if (enrollment) await this.store.provisioning.countClaimFailure(deviceId);
      await this.raise('security.claim_failed', deviceId, { home, known: Boolean(enrollment), failuresInWindow: failures + 1 });
      throw new ForbiddenError(`the setup code does not match device ${deviceId}`);
    }
    if (enrollment.home !== null && enrollment.home !== home)
      throw new ConflictError(`device ${deviceId} is claimed by another home; that home must release it first`, 'already-claimed');
    if (enrollment.home === null && !(await this.store.provisioning.claimEnrollment(deviceId, home, now))) {
      const current = await this.store.provisioning.getEnrollment(deviceId);
      if (current?.home !== home) throw new ConflictError(`device ${deviceId} was claimed by another home meanwhile`, 'already-claimed');
    }
    const claimed = await this.store.provisioning.getEnrollment(deviceId);
    return { deviceId, home, claimedAt: (claimed?.claimedAt ?? now).toISOString(), state: claimed?.state ?? enrollment.state };
  }

  async release(deviceId: string, homeInput: string): Promise<void> {
    parseDeviceId(deviceId);
    const home = checkHomeId(homeInput);
    if (!(await this.store.provisioning.releaseEnrollment(deviceId, home))) {
      throw new ConflictError(`device ${deviceId} is not claimed by home ${home}`, 'not-claimed');
    }
  }
}
