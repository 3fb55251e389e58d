// Admin API: CA certificates and their proof of possession, on the DPS CA certificate service.
import { CaCertificates } from "../dps/ca-certificates.ts";
import { HttpError, type RouteRequest, type Router } from "../net/http.ts";
import type { SimContext } from "../state/context.ts";
import type { CaCertificate } from "../state/model.ts";
import { bad, ifMatchOf, object, optionalString, resourceName } from "./validate.ts";

function caView(record: CaCertificate): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    subject: record.subject,
    expiry: record.notAfter,
    thumbprint: record.sha1Thumbprint,
    thumbprintSha256: record.sha256Thumbprint,
    isVerified: record.isVerified,
    certificate: record.certificatePem,
    created: record.created,
    updated: record.updated,
    etag: record.etag,
  };
  if (record.verificationCode !== undefined) properties.verificationCode = record.verificationCode;
  return { name: record.name, etag: record.etag, properties };
}

function pemFrom(body: unknown): string {
  const record = object(body, "The body");
  const pem = optionalString(record, "certificate");
  if (pem === undefined) throw bad("INVALID_BODY", 'Send {"certificate": "<PEM>"}.');
  return pem;
}

/** The admin API asks for the etag on every change of an existing certificate (428 without it). */
function requiredIfMatch(request: RouteRequest): string {
  const ifMatch = ifMatchOf(request);
  if (ifMatch === undefined) {
    throw new HttpError(
      428,
      "ETAG_REQUIRED",
      "Pass the certificate's current etag as If-Match (or * to skip the check).",
    );
  }
  return ifMatch;
}

const answer = (record: CaCertificate, status = 200) => ({
  status,
  body: caView(record),
  headers: { etag: record.etag },
});

/** CA certificates: list, get, upload (unverified). */
export function caRoutes(router: Router, context: SimContext): void {
  const certificates = new CaCertificates(context);
  router.add("GET", "/admin/certificates", () => ({ body: certificates.list().map(caView) }));
  router.add("GET", "/admin/certificates/:name", (request) =>
    answer(certificates.get(request.params.name ?? "")),
  );
  router.add("PUT", "/admin/certificates/:name", async (request) => {
    const name = resourceName(request.params.name ?? "", "certificate name");
    const pem = pemFrom(request.body);
    const { record, created } = await certificates.upload(name, pem, ifMatchOf(request));
    return answer(record, created ? 201 : 200);
  });
}

/** Proof of possession (verification code, verify) and delete. */
export function caVerificationRoutes(router: Router, context: SimContext): void {
  const certificates = new CaCertificates(context);
  router.add("POST", "/admin/certificates/:name/generate-verification-code", (request) => {
    const name = request.params.name ?? "";
    certificates.get(name);
    return answer(certificates.generateVerificationCode(name, requiredIfMatch(request)));
  });
  router.add("POST", "/admin/certificates/:name/verify", (request) => {
    const name = request.params.name ?? "";
    certificates.get(name);
    const ifMatch = requiredIfMatch(request);
    return answer(certificates.verify(name, pemFrom(request.body), ifMatch));
  });
  router.add("DELETE", "/admin/certificates/:name", (request) => {
    const name = request.params.name ?? "";
    certificates.get(name);
    certificates.delete(name, requiredIfMatch(request));
    return { status: 204 };
  });
}

// --- registrations, devices, issued certificates, events ----------------------------------------
