/** Milliseconds since the epoch, as the store's integer time columns hold them; an invalid Date is refused. */
export function epochMs(date: Date, field: string): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`${field} is not a valid Date`);
  return ms;
}

/** A nullable time column read back (PostgreSQL's bigint arrives as a string). */
export function dateOrNull(value: number | string | null): Date | null {
  return value === null ? null : new Date(Number(value));
}
