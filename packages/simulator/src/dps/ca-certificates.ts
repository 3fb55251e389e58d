// DPS CA certificates and their proof of possession, as a service: every wire edge (admin API, CLI) goes through it.
import { randomBytes, X509Certificate } from "node:crypto";
import { certificateFacts } from "@skittlesorter/csr";
import { serviceError } from "../errors.ts";
import type { SimContext } from "../state/context.ts";
import type { CaCertificate } from "../state/model.ts";
import { newEtag } from "./etag.ts";

const invalid = (errorCode: string, message: string) =>
  serviceError("SIM_INVALID_REQUEST", errorCode, message);

function checkIfMatch(ifMatch: string | undefined, current: string): void {
  if (ifMatch === undefined || ifMatch === "*" || ifMatch === current) return;
  throw serviceError(
    "SIM_PRECONDITION_FAILED",
    "ETAG_MISMATCH",
    "The etag does not match the certificate's current etag; read it again (it changes on every update) and retry.",
  );
}

export class CaCertificates {
  readonly #context: SimContext;

  constructor(context: SimContext) {
    this.#context = context;
  }

  list(): CaCertificate[] {
    return this.#context.store.listCaCertificates();
  }

  /** The certificate; `SIM_NOT_FOUND` (`CA_CERTIFICATE_NOT_FOUND`) when there is none. */
  get(name: string): CaCertificate {
    const record = this.#context.store.getCaCertificate(name);
    if (record === undefined) {
      throw serviceError(
        "SIM_NOT_FOUND",
        "CA_CERTIFICATE_NOT_FOUND",
        `No CA certificate "${name}"; list them with GET /admin/certificates.`,
      );
    }
    return record;
  }

  /** Uploads (unverified) or replaces a CA certificate; replacing needs `ifMatch`. */
  async upload(
    name: string,
    pem: string,
    ifMatch: string | undefined,
  ): Promise<{ record: CaCertificate; created: boolean }> {
    const { store } = this.#context;
    const existing = store.getCaCertificate(name);
    if (existing !== undefined) {
      if (ifMatch === undefined) {
        throw serviceError(
          "SIM_CONFLICT",
          "CA_CERTIFICATE_EXISTS",
          `CA certificate "${name}" already exists; delete it, or pass its etag as If-Match to replace it.`,
        );
      }
      checkIfMatch(ifMatch, existing.etag);
    }
    let facts: ReturnType<typeof certificateFacts>;
    try {
      facts = certificateFacts(pem);
    } catch (error) {
      throw invalid("INVALID_CERTIFICATE", `The certificate cannot be read: ${(error as Error).message}`);
    }
    if (!facts.isCa) {
      throw invalid(
        "NOT_A_CA",
        `"${facts.subject}" is not a CA certificate (basicConstraints cA is not set); upload the root or intermediate that signs device certificates.`,
      );
    }
    const now = this.#context.nowIso();
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
    return { record, created: existing === undefined };
  }

  generateVerificationCode(name: string, ifMatch: string | undefined): CaCertificate {
    const record = this.get(name);
    checkIfMatch(ifMatch, record.etag);
    const updated: CaCertificate = {
      ...record,
      verificationCode: randomBytes(24).toString("hex").toUpperCase(),
      etag: newEtag(),
      updated: this.#context.nowIso(),
    };
    this.#context.store.putCaCertificate(updated);
    this.#context.store.addEvent(updated.updated, "ca.verificationCode", updated.name, {});
    return updated;
  }

  /** Proof of possession: `proofPem` must carry the verification code as CN and be signed by the CA. */
  verify(name: string, proofPem: string, ifMatch: string | undefined): CaCertificate {
    const record = this.get(name);
    checkIfMatch(ifMatch, record.etag);
    if (record.verificationCode === undefined) {
      throw invalid(
        "NO_VERIFICATION_CODE",
        `CA certificate "${record.name}" has no verification code; generate one first (skittle-sim ca verification-code).`,
      );
    }
    let proof: X509Certificate;
    try {
      proof = new X509Certificate(certificateFacts(proofPem).pem);
    } catch (error) {
      throw invalid(
        "INVALID_CERTIFICATE",
        `The verification certificate cannot be read: ${(error as Error).message}`,
      );
    }
    const cn = proof.subject
      .split("\n")
      .find((line) => line.startsWith("CN="))
      ?.slice(3);
    if (cn !== record.verificationCode) {
      throw invalid(
        "VERIFICATION_CODE_MISMATCH",
        `The verification certificate's CN is ${cn === undefined ? "missing" : `"${cn}"`}; it must be the verification code of "${record.name}".`,
      );
    }
    let signed = false;
    try {
      signed = proof.verify(new X509Certificate(record.certificatePem).publicKey);
    } catch {
      signed = false;
    }
    if (!signed) {
      throw invalid(
        "VERIFICATION_NOT_SIGNED_BY_CA",
        `The verification certificate is not signed by CA certificate "${record.name}"; sign it with that CA's private key.`,
      );
    }
    const now = this.#context.clock.now();
    if (Date.parse(proof.validFrom) > now || Date.parse(proof.validTo) < now) {
      throw invalid(
        "VERIFICATION_CERTIFICATE_EXPIRED",
        "The verification certificate is not valid now; issue a fresh one.",
      );
    }
    const { verificationCode: _code, ...rest } = record;
    const updated: CaCertificate = {
      ...rest,
      isVerified: true,
      etag: newEtag(),
      updated: this.#context.nowIso(),
    };
    this.#context.store.putCaCertificate(updated);
    this.#context.store.addEvent(updated.updated, "ca.verified", updated.name, {
      sha256Thumbprint: updated.sha256Thumbprint,
    });
    return updated;
  }

  delete(name: string, ifMatch: string | undefined): void {
    const record = this.get(name);
    checkIfMatch(ifMatch, record.etag);
    this.#context.store.deleteCaCertificate(record.name);
    this.#context.store.addEvent(this.#context.nowIso(), "ca.deleted", record.name, {});
  }
}
