// The second half of a certificate's lifecycle in `pnpm demo -- --hub-client hub-mqtt`: DPS issues the first
// certificate, and the sorter renews it through IoT Hub (`$iothub/credentials`) at its renewal window. A demo lasts
// seconds, not weeks, so the renewal window is set to the credential policy's validity minus a few seconds: the
// certificate is due for renewal shortly after it is issued, as a real one is 7 days before it expires.
import type { RenewalRecord } from "@skittlesorter/simulator";

/** How long after issuance the demo's sorter renews its certificate. */
export const RENEW_AFTER_SECONDS = 6;

const DAY_SECONDS = 24 * 3600;

/**
 * `Certificates.RenewalWindowDays` that makes a certificate of the policy's validity due `renewAfterSeconds` after
 * it was issued (the sorter renews `RenewalWindowDays` before `notAfter`, and `notAfter` = issuance + validity).
 */
export function renewalWindowDays(validityDays: number, renewAfterSeconds = RENEW_AFTER_SECONDS): number {
  if (!(validityDays * DAY_SECONDS > renewAfterSeconds)) {
    throw new Error(
      `a ${validityDays}-day certificate cannot be renewed ${renewAfterSeconds} s after issuance`,
    );
  }
  return validityDays - renewAfterSeconds / DAY_SECONDS;
}

/** What the renewal check needs from the simulator's records and the sorter's summary. */
export interface RenewalFacts {
  /** `/admin/renewals?device=…`: the hub's `issueCertificate` requests, newest first. */
  renewals: readonly RenewalRecord[];
  /** `/admin/issued-certificates?registrationId=…`: every certificate issued to the device (DPS and hub). */
  issued: readonly { serialNumber: string; sha256Thumbprint: string }[];
  /** How many times the device registered with DPS. */
  registrationCount: number;
  /** The certificate the sorter ended with. */
  finalThumbprint: string | undefined;
}

const thumb = (value: string | undefined): string => (value ?? "").replaceAll(":", "").toLowerCase();

/** Serial numbers of the certificates the hub issued (the rest came from DPS). */
export function hubIssuedSerials(renewals: readonly RenewalRecord[]): Set<string> {
  return new Set(
    renewals.flatMap((renewal) =>
      renewal.state === "issued" && renewal.serialNumber !== undefined ? [renewal.serialNumber] : [],
    ),
  );
}

/** The check: the sorter renewed through the hub, ended on the hub's certificate, and registered with DPS once. */
export function renewalCheck(facts: RenewalFacts): { name: string; ok: boolean; detail: string } {
  const fromHub = hubIssuedSerials(facts.renewals);
  const final = facts.issued.find((c) => thumb(c.sha256Thumbprint) === thumb(facts.finalThumbprint));
  const other = facts.renewals.filter((renewal) => renewal.state !== "issued").map((r) => r.state);
  return {
    name: `it renewed its certificate through IoT Hub at the renewal window (${RENEW_AFTER_SECONDS} s after issuance here), not through DPS`,
    ok:
      fromHub.size > 0 &&
      final !== undefined &&
      fromHub.has(final.serialNumber) &&
      facts.registrationCount === 1,
    detail:
      `${fromHub.size} certificate${fromHub.size === 1 ? "" : "s"} issued by the hub` +
      `${other.length === 0 ? "" : ` (other requests: ${other.join(", ")})`}, ` +
      `${facts.registrationCount} DPS registration; the sorter ended on ` +
      (final === undefined
        ? "a certificate the simulator did not issue"
        : `serial ${final.serialNumber} ${fromHub.has(final.serialNumber) ? "from the hub" : "from DPS"}`),
  };
}
