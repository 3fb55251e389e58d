// Admin API of certificate renewal through the hub: the recent requests, and the test knobs (delay, faults).
import { HttpError, type Router } from "../net/http.ts";
import { isObject } from "../state/json.ts";
import { type CertificateRenewals, checkDelay, checkFault, type RenewalFault } from "./credentials.ts";

const bad = (message: string): HttpError => new HttpError(400, "INVALID_BODY", message);

/**
 * - `GET /admin/renewals[?device=ID]`: recent `issueCertificate` requests, newest first;
 * - `GET|PUT /admin/renewals/settings`: `{delayMs, faults}`; PUT takes `{delayMs}`;
 * - `POST /admin/renewals/faults`: `{status: 429|503, count?, deviceId?, retryAfterSeconds?}` answers the next
 *   requests with that transient error; `DELETE /admin/renewals/faults` clears them.
 */
export function registerRenewalRoutes(router: Router, renewals: CertificateRenewals): void {
  router.add("GET", "/admin/renewals", (request) => {
    const device = request.query.get("device");
    return { body: renewals.list(device === null || device === "" ? undefined : device) };
  });
  router.add("GET", "/admin/renewals/settings", () => ({ body: renewals.settings() }));
  router.add("PUT", "/admin/renewals/settings", (request) => {
    if (!isObject(request.body) || Object.keys(request.body).some((key) => key !== "delayMs")) {
      throw bad('Send {"delayMs": 0-600000} (the time between the 202 and the certificate).');
    }
    if (request.body.delayMs !== undefined) {
      try {
        renewals.setDelayMs(checkDelay(request.body.delayMs as number));
      } catch (error) {
        throw bad(`${(error as Error).message}.`);
      }
    }
    return { body: renewals.settings() };
  });
  router.add("POST", "/admin/renewals/faults", (request) => {
    if (!isObject(request.body)) {
      throw bad('Send {"status": 429|503, "count"?: n, "deviceId"?: "…", "retryAfterSeconds"?: s}.');
    }
    const unknown = Object.keys(request.body).find(
      (key) => !["status", "count", "deviceId", "retryAfterSeconds"].includes(key),
    );
    if (unknown !== undefined) {
      throw bad(`Unknown field "${unknown}"; a fault has status, count, deviceId and retryAfterSeconds.`);
    }
    let fault: RenewalFault;
    try {
      fault = checkFault(request.body as unknown as RenewalFault);
    } catch (error) {
      throw bad(`${(error as Error).message}.`);
    }
    renewals.addFault(fault);
    return { status: 201, body: renewals.settings() };
  });
  router.add("DELETE", "/admin/renewals/faults", () => {
    renewals.clearFaults();
    return { body: renewals.settings() };
  });
}
