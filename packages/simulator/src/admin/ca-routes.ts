// Admin API: CA certificates and their proof of possession.
import { randomBytes, X509Certificate } from "node:crypto";
import { certificateFacts } from "@skittlesorter/csr";
import { newEtag } from "../dps/service.ts";
import { HttpError, isHttpError, type Router } from "../net/http.ts";
import type { SimContext } from "../state/context.ts";
import type { CaCertificate } from "../state/model.ts";
import { bad, checkEtag, object, optionalString, resourceName } from "./validate.ts";

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

function findCa(store: SimContext["store"], name: string): CaCertificate {
  const record = store.getCaCertificate(name);
  if (record === undefined) {
    throw new HttpError(
      404,
      "CA_CERTIFICATE_NOT_FOUND",
      `No CA certificate "${name}"; list them with GET /admin/certificates.`,
    );
  }
  return record;
}

function pemFrom(body: unknown): string {
  const record = object(body, "The body");
  const pem = optionalString(record, "certificate");
  if (pem === undefined) throw bad("INVALID_BODY", 'Send {"certificate": "<PEM>"}.');
  return pem;
}

/** CA certificates: list, get, upload (unverified). */
export function caRoutes(router: Router, context: SimContext): void {
  const { store } = context;
  const find = (name: string): CaCertificate => findCa(store, name);

  router.add("GET", "/admin/certificates", () => ({ body: store.listCaCertificates().map(caView) }));
  router.add("GET", "/admin/certificates/:name", (request) => {
    const record = find(request.params.name ?? "");
    return { body: caView(record), headers: { etag: record.etag } };
  });
  router.add("PUT", "/admin/certificates/:name", (request) => {
    const name = resourceName(request.params.name ?? "", "certificate name");
    const existing = store.getCaCertificate(name);
    if (existing !== undefined) {
      if (request.headers["if-match"] === undefined) {
        throw new HttpError(
          409,
          "CA_CERTIFICATE_EXISTS",
          `CA certificate "${name}" already exists; delete it, or pass its etag as If-Match to replace it.`,
        );
      }
      checkEtag(request, existing.etag, "certificate", true);
    }
    let facts: ReturnType<typeof certificateFacts>;
    try {
      facts = certificateFacts(pemFrom(request.body));
    } catch (error) {
      if (isHttpError(error)) throw error;
      throw bad("INVALID_CERTIFICATE", `The certificate cannot be read: ${(error as Error).message}`);
    }
    if (!facts.isCa) {
      throw bad(
        "NOT_A_CA",
        `"${facts.subject}" is not a CA certificate (basicConstraints cA is not set); upload the root or intermediate that signs device certificates.`,
      );
    }
    const now = context.nowIso();
    const record: CaCertificate = {
      name,
      certificatePem: facts.pem,
      subject: facts.subject,
      sha1Thumbprint: facts.sha1Thumbprint,
      sha256Thumbprint: facts.sha256Thumbprint,
      notAfter: facts.notAfter.toISOString(),
      isVerified: false,
      etag: newEtag(),
      created: existing?.created ?? now,
      updated: now,
    };
    store.putCaCertificate(record);
    store.addEvent(now, "ca.uploaded", name, {
      subject: facts.subject,
      sha256Thumbprint: facts.sha256Thumbprint,
    });
    return {
      status: existing === undefined ? 201 : 200,
      body: caView(record),
      headers: { etag: record.etag },
    };
  });
}

/** Proof of possession (verification code, verify) and delete. */
export function caVerificationRoutes(router: Router, context: SimContext): void {
  const { store } = context;
  const find = (name: string): CaCertificate => findCa(store, name);
  router.add("POST", "/admin/certificates/:name/generate-verification-code", (request) => {
    const record = find(request.params.name ?? "");
    checkEtag(request, record.etag, "certificate", true);
    const updated: CaCertificate = {
      ...record,
      verificationCode: randomBytes(24).toString("hex").toUpperCase(),
      etag: newEtag(),
      updated: context.nowIso(),
    };
    store.putCaCertificate(updated);
    store.addEvent(updated.updated, "ca.verificationCode", updated.name, {});
    return { body: caView(updated), headers: { etag: updated.etag } };
  });
  router.add("POST", "/admin/certificates/:name/verify", (request) => {
    const record = find(request.params.name ?? "");
    checkEtag(request, record.etag, "certificate", true);
    if (record.verificationCode === undefined) {
      throw bad(
        "NO_VERIFICATION_CODE",
        `CA certificate "${record.name}" has no verification code; generate one first (skittle-sim ca verification-code).`,
      );
    }
    let proof: X509Certificate;
    try {
      proof = new X509Certificate(certificateFacts(pemFrom(request.body)).pem);
    } catch (error) {
      if (isHttpError(error)) throw error;
      throw bad(
        "INVALID_CERTIFICATE",
        `The verification certificate cannot be read: ${(error as Error).message}`,
      );
    }
    const ca = new X509Certificate(record.certificatePem);
    const cn = proof.subject
      .split("\n")
      .find((line) => line.startsWith("CN="))
      ?.slice(3);
    if (cn !== record.verificationCode) {
      throw bad(
        "VERIFICATION_CODE_MISMATCH",
        `The verification certificate's CN is ${cn === undefined ? "missing" : `"${cn}"`}; it must be the verification code of "${record.name}".`,
      );
    }
    let signed = false;
    try {
      signed = proof.verify(ca.publicKey);
    } catch {
      signed = false;
    }
    if (!signed) {
      throw bad(
        "VERIFICATION_NOT_SIGNED_BY_CA",
        `The verification certificate is not signed by CA certificate "${record.name}"; sign it with that CA's private key.`,
      );
    }
    const now = context.clock.now();
    if (Date.parse(proof.validFrom) > now || Date.parse(proof.validTo) < now) {
      throw bad(
        "VERIFICATION_CERTIFICATE_EXPIRED",
        "The verification certificate is not valid now; issue a fresh one.",
      );
    }
    const { verificationCode: _code, ...rest } = record;
    const updated: CaCertificate = { ...rest, isVerified: true, etag: newEtag(), updated: context.nowIso() };
    store.putCaCertificate(updated);
    store.addEvent(updated.updated, "ca.verified", updated.name, {
      sha256Thumbprint: updated.sha256Thumbprint,
    });
    return { body: caView(updated), headers: { etag: updated.etag } };
  });
  router.add("DELETE", "/admin/certificates/:name", (request) => {
    const record = find(request.params.name ?? "");
    checkEtag(request, record.etag, "certificate", true);
    store.deleteCaCertificate(record.name);
    store.addEvent(context.nowIso(), "ca.deleted", record.name, {});
    return { status: 204 };
  });
}

// --- registrations, devices, issued certificates, events ----------------------------------------
