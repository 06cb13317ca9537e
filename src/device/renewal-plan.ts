/**
 * When a device renews (RFC 9773 4.2): at a time chosen uniformly inside the server's suggested
 * window, so a fleet issued together spreads its renewals over the window; at once when the
 * window has begun being missed; and the choice is kept until the server moves the window.
 */
export interface RenewalWindowView {
  start: Date;
  end: Date;
}

export function chooseRenewalTime(window: RenewalWindowView, now: Date, random: () => number): Date {
  if (window.end.getTime() <= now.getTime()) return now;
  const from = Math.max(window.start.getTime(), now.getTime());
  return new Date(from + Math.floor(random() * (window.end.getTime() - from)));
}

/** Without renewal information: the last third of the lifetime, as the server's default window. */
export function defaultWindow(notBefore: Date, notAfter: Date): RenewalWindowView {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return { start: new Date(notAfter.getTime() - lifetime / 3), end: new Date(notAfter.getTime() - lifetime / 9) };
}
