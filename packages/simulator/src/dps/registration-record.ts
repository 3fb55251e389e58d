// Registration bookkeeping of the DPS engine: the registration record of an attempt, retry-after values.
import type { Registration } from "../state/model.ts";
import type { Attested } from "./attest.ts";
import { newEtag } from "./etag.ts";
import { DpsErrorCode, DpsFailure } from "./protocol.ts";

export const MINUTE_MS = 60_000;

/** A 429 whose retry-after is when the oldest counted event (epoch ms) leaves the one-minute window. */
export function throttled(reason: string, oldest: number, now: number): DpsFailure {
  const retryAfterSeconds = Math.max(1, Math.ceil((oldest + MINUTE_MS - now) / 1000));
  return new DpsFailure(429, DpsErrorCode.throttled, `${reason}; retry after ${retryAfterSeconds} s.`, {
    retryAfterSeconds,
  });
}

export function retryAfter(remainingMs: number): number {
  return Math.max(1, Math.ceil(remainingMs / 1000));
}

/** The registration record for this attempt: the previous one (history, counts) refreshed, or a new one. */
export function nextRegistration(
  previous: Registration | undefined,
  registrationId: string,
  attested: Attested,
  nowIso: string,
): Registration {
  const { enrollment } = attested;
  const base: Registration = previous ?? {
    registrationId,
    enrollmentKind: enrollment.kind,
    enrollmentId: enrollment.id,
    attestationType: attested.type,
    hubHistory: [],
    status: "unassigned",
    createdDateTimeUtc: nowIso,
    lastUpdatedDateTimeUtc: nowIso,
    etag: newEtag(),
    registrationCount: 0,
  };
  const registration: Registration = {
    ...base,
    enrollmentKind: enrollment.kind,
    enrollmentId: enrollment.id,
    attestationType: attested.type,
    lastUpdatedDateTimeUtc: nowIso,
    etag: newEtag(),
  };
  delete registration.errorCode;
  delete registration.errorMessage;
  delete registration.payload;
  return registration;
}
