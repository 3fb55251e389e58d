// The registration record DPS keeps per registration id, refreshed on every attempt.
import type { Registration } from "../state/model.ts";
import type { Attested } from "./attest.ts";
import { newEtag } from "./etag.ts";

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

/** The attestation part of a registration state, as DPS reports it. */
export function attestationSection(attested: Attested): Record<string, unknown> {
  const groupId = attested.enrollment.kind === "group" ? { enrollmentGroupId: attested.enrollment.id } : {};
  if (attested.type === "symmetricKey") return { symmetricKey: groupId };
  const x509: Record<string, unknown> = { ...groupId };
  if (attested.certificateInfo !== undefined) x509.certificateInfo = attested.certificateInfo;
  if (attested.signingCertificateInfo !== undefined)
    x509.signingCertificateInfo = attested.signingCertificateInfo;
  return { x509 };
}
