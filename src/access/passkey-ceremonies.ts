/**
 * Passkey (WebAuthn) ceremonies for homeowners, with @simplewebauthn/server. The relying party is
 * configuration (the public host as RP ID, the public origin), never the request's Host header.
 * Passkeys must be discoverable (resident) and verify their user (a PIN or biometric): a passkey
 * alone is a whole sign-in, so it must be more than possession. Attestation is not asked for: a
 * homeowner's choice of authenticator is theirs.
 *
 * Each ceremony's challenge is kept in the store under the hash of a secret the browser holds
 * (its ceremony cookie), for five minutes, and taken at the first answer whatever its outcome: a
 * challenge is answered once, so a captured response cannot be replayed. Sign-in uses
 * discoverable credentials (no user name is asked for); the user handle the authenticator returns
 * must be the handle of the account that registered the credential, and the signature counter may
 * not go back (compare-and-set in the store, so two processes cannot both accept one count).
 */
import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Clock } from '../core/clock.js';
import { UniqueViolationError } from '../core/errors.js';
import type { PasskeyRecord, PendingCeremonyRecord } from '../store/account-store.js';
import type { Store } from '../store/store.js';
import { secretHash, sameSecret } from './browser-secrets.js';
import { SignInRefusal, type SignInRefusalType } from './sign-in-refusal.js';

export const CEREMONY_TTL_MS = 5 * 60_000;

export interface RelyingParty {
  /** The RP ID: the installation's public host name. Changing it orphans every passkey. */
  id: string;
  name: string;
  /** The one origin the pages are served from, e.g. https://hearth.home.arpa:8443. */
  origin: () => string;
}

export interface RegisteredPasskey {
  account: string;
  passkey: PasskeyRecord;
  /** Whether the account held no passkey before this one (it gets recovery codes). */
  first: boolean;
  /** The invitation used, when the registration came from one. */
  invitation: string | null;
}

export class PasskeyCeremonies {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly rp: RelyingParty,
  ) {}

  /**
   * Options for registering a passkey for `account`: from an invitation (its hash, consumed when
   * the registration succeeds) or for a signed-in account adding another.
   */
  async registrationOptions(binding: string, account: string, invitation: string | null = null): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const userHandle = await this.store.accounts.ensureUserHandle(account, new Uint8Array(randomBytes(32)));
    const existing = await this.store.accounts.listPasskeys(account);
    const options = await generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.id,
      userName: account,
      userID: userHandle as Uint8Array<ArrayBuffer>,
      attestationType: 'none',
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
      timeout: CEREMONY_TTL_MS,
    });
    await this.remember(binding, 'register', options.challenge, account, invitation);
    return options;
  }

  async verifyRegistration(binding: string, response: RegistrationResponseJSON): Promise<RegisteredPasskey> {
    const ceremony = await this.take(binding, 'register');
    const account = ceremony.account as string;
    let verification;
    try {
      verification = await verifyRegistrationResponse({
        response,
        expectedChallenge: ceremony.challenge,
        expectedOrigin: this.rp.origin(),
        expectedRPID: this.rp.id,
        requireUserVerification: true,
      });
    } catch (error) {
      throw refusalOf(error, account);
    }
    const info = verification.registrationInfo;
    if (!verification.verified || !info) throw new SignInRefusal('passkey-response-invalid', 'the registration response did not verify', account);
    const now = this.clock.now();
    const passkey: PasskeyRecord = {
      id: info.credential.id,
      account,
      publicKey: info.credential.publicKey,
      counter: info.credential.counter,
      transports: info.credential.transports ?? response.response.transports ?? [],
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
      createdAt: now,
      lastUsedAt: null,
    };
    return this.store.transaction(async (tx) => {
      if (ceremony.invitation !== null && !(await tx.accounts.useInvitation(ceremony.invitation, now)))
        throw new SignInRefusal('invitation-used', 'this invitation was used already; ask for a new one', account);
      const first = (await tx.accounts.listPasskeys(account)).length === 0;
      try {
        await tx.accounts.insertPasskey(passkey);
      } catch (error) {
        if (error instanceof UniqueViolationError) throw new SignInRefusal('passkey-response-invalid', 'this passkey is registered already', account);
        throw error;
      }
      return { account, passkey, first, invitation: ceremony.invitation };
    });
  }

  /** Options for signing in with any discoverable passkey of this RP. */
  async signInOptions(binding: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = await generateAuthenticationOptions({ rpID: this.rp.id, userVerification: 'required', timeout: CEREMONY_TTL_MS });
    await this.remember(binding, 'sign-in', options.challenge, null, null);
    return options;
  }

  /**
   * The account the passkey signs in. `admit` is told the account as soon as the credential names
   * it, before the signature is checked (the per-account rate limit).
   */
  async verifySignIn(
    binding: string,
    response: AuthenticationResponseJSON,
    admit?: (account: string) => Promise<void>,
  ): Promise<{ account: string; passkey: string }> {
    const ceremony = await this.take(binding, 'sign-in');
    const passkey = typeof response?.id === 'string' ? await this.store.accounts.getPasskey(response.id) : undefined;
    if (!passkey) throw new SignInRefusal('passkey-not-recognised', 'this passkey is not registered here (it may have been removed)');
    const account = passkey.account;
    await admit?.(account);
    // The authenticator names the user it made the credential for: it must be this credential's account.
    const handle = await this.store.accounts.getUserHandle(account);
    const sentHandle = response.response?.userHandle;
    if (!handle || typeof sentHandle !== 'string' || !sameSecret(sentHandle, Buffer.from(handle).toString('base64url')))
      throw new SignInRefusal('user-handle-mismatch', "the passkey's user handle is not the one of the account that registered it", account);
    let verification;
    try {
      verification = await verifyAuthenticationResponse({
        response,
        expectedChallenge: ceremony.challenge,
        expectedOrigin: this.rp.origin(),
        expectedRPID: this.rp.id,
        credential: { id: passkey.id, publicKey: passkey.publicKey as Uint8Array<ArrayBuffer>, counter: passkey.counter },
        requireUserVerification: true,
      });
    } catch (error) {
      throw refusalOf(error, account);
    }
    if (!verification.verified) throw new SignInRefusal('passkey-response-invalid', 'the assertion did not verify', account);
    const { newCounter } = verification.authenticationInfo;
    if (!(await this.store.accounts.recordPasskeyUse(passkey.id, passkey.counter, newCounter, this.clock.now())))
      throw new SignInRefusal('counter-regression', 'another sign-in used this signature count at the same time', account);
    return { account, passkey: passkey.id };
  }

  private async remember(
    binding: string,
    kind: PendingCeremonyRecord['kind'],
    challenge: string,
    account: string | null,
    invitation: string | null,
  ): Promise<void> {
    const now = this.clock.now();
    await this.store.accounts.purgeExpired(now);
    await this.store.accounts.putCeremony({
      id: secretHash(binding),
      kind,
      challenge,
      account,
      invitation,
      createdAt: now,
      expiresAt: new Date(now.getTime() + CEREMONY_TTL_MS),
    });
  }

  /** The ceremony in progress for this browser, taken out of the store: a challenge is answered once. */
  private async take(binding: string, kind: PendingCeremonyRecord['kind']): Promise<PendingCeremonyRecord> {
    const ceremony = await this.store.accounts.takeCeremony(secretHash(binding));
    if (!ceremony || ceremony.kind !== kind || ceremony.expiresAt.getTime() <= this.clock.now().getTime())
      throw new SignInRefusal(
        'challenge-expired',
        `no ${kind} is in progress in this browser (a challenge lasts five minutes and is answered once); start again`,
      );
    return ceremony;
  }
}

/** @simplewebauthn/server says why with a message only; each reason a caller can act on gets its type. */
function refusalOf(error: unknown, account: string): SignInRefusal {
  const message = error instanceof Error ? error.message : String(error);
  const rules: [RegExp, SignInRefusalType, string][] = [
    [/challenge/i, 'challenge-mismatch', 'the response answers another challenge'],
    [/origin/i, 'origin-mismatch', 'the response was made for another origin'],
    [/RP ID/i, 'rp-id-mismatch', 'the passkey belongs to another site (RP ID)'],
    [/user verification|could not be verified/i, 'user-verification-required', 'the authenticator did not verify the user (PIN or biometric)'],
    [/counter/i, 'counter-regression', "the passkey's signature counter went back: it may have been cloned"],
  ];
  const rule = rules.find(([pattern]) => pattern.test(message));
  if (rule) return new SignInRefusal(rule[1], `${rule[2]}: ${message}`, account);
  return new SignInRefusal('passkey-response-invalid', `the passkey's response is not acceptable: ${message}`, account);
}
