import { type Clock, systemClock } from "@skittlesorter/core";
import { CsrError } from "./errors.ts";

function assertWindow(renewalWindowMs: number): void {
  if (typeof renewalWindowMs !== "number" || !Number.isFinite(renewalWindowMs) || renewalWindowMs < 0) {
    throw new CsrError(
      "INVALID_ARGUMENT",
      `renewalWindowMs must be a finite number of milliseconds >= 0, got ${String(renewalWindowMs)}.`,
    );
  }
}

function assertDate(notAfter: Date): void {
  if (!(notAfter instanceof Date) || Number.isNaN(notAfter.getTime())) {
    throw new CsrError("INVALID_ARGUMENT", "notAfter must be a valid Date (the certificate's expiry).");
  }
}

/** When renewal becomes due: `renewalWindowMs` before the certificate's `notAfter`. */
export function renewalDueAt(notAfter: Date, renewalWindowMs: number): Date {
  assertDate(notAfter);
  assertWindow(renewalWindowMs);
  return new Date(notAfter.getTime() - renewalWindowMs);
}

export interface RenewalOptions {
  /** How long before expiry renewal starts (e.g. 7 days, the ADR policy default). */
  renewalWindowMs: number;
  /** Default: the system clock. */
  clock?: Clock | undefined;
}

/** True once `clock.now()` has reached {@link renewalDueAt} (an expired certificate is always due). */
export function isRenewalDue(notAfter: Date, options: RenewalOptions): boolean {
  const dueAt = renewalDueAt(notAfter, options.renewalWindowMs);
  return (options.clock ?? systemClock).now() >= dueAt.getTime();
}
