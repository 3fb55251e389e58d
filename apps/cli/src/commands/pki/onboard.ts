import { readFile } from "node:fs/promises";
import { CliError } from "@skittlesorter/cli-shell";
import { certificateFacts, readPrivateKeyFile } from "@skittlesorter/csr";
import type { SimFile } from "../../sim-file.ts";
import type { CaFiles } from "./layout.ts";
import { verificationCertificate } from "./proof.ts";

/** What `skittle pki onboard` did, per CA certificate and for the enrollment group. */
export interface PkiOnboardResult {
  adminUrl: string;
  certificates: {
    name: string;
    subject: string;
    sha1Thumbprint: string;
    verified: boolean;
    uploaded: boolean;
  }[];
  enrollmentGroup: { id: string; caName: string; credentialPolicy: string };
}

interface AdminCertificate {
  name: string;
  etag: string;
  properties: { isVerified: boolean; thumbprint: string; verificationCode?: string };
}

class AdminHttpError extends CliError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

/** A minimal client of the simulator's admin API: just what onboarding needs. */
class SimAdmin {
  constructor(readonly baseUrl: string) {}

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      throw new CliError(
        "SIM_UNREACHABLE",
        `the simulator's admin API at ${this.baseUrl} does not answer; is skittle-sim still running? (${(error as Error).message})`,
        { cause: error },
      );
    }
    const text = await response.text();
    const json = text === "" ? undefined : (JSON.parse(text) as unknown);
    if (!response.ok) {
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new AdminHttpError(
        response.status,
        error?.code ?? `HTTP_${response.status}`,
        `${method} ${path}: ${error?.message ?? `HTTP ${response.status}`}`,
      );
    }
    return json as T;
  }

  async certificate(name: string): Promise<AdminCertificate | undefined> {
    try {
      return await this.call<AdminCertificate>("GET", `/admin/certificates/${encodeURIComponent(name)}`);
    } catch (error) {
      if (error instanceof AdminHttpError && error.status === 404) return undefined;
      throw error;
    }
  }
}

/** The admin API base URL of the simulator behind a sim.json. */
export function simAdminUrl(sim: SimFile): string {
  const http = sim.json.http as { url?: unknown } | undefined;
  if (typeof http?.url !== "string") {
    throw new CliError("SIM_FILE_INVALID", `${sim.file}: http.url missing; restart the simulator`);
  }
  return http.url.replace(/\/+$/, "");
}

/**
 * Uploads a CA directory's root and intermediate to the simulator, proves possession of both (upload →
 * verification code → certificate with CN = code signed by the CA → verified), and creates (or replaces) an
 * X.509 enrollment group on the intermediate linked to a credential policy — what the original's
 * setup-x509-dps-adr.ps1 did against Azure. Certificates already uploaded and verified are left as they are.
 */
export async function onboardCaDirectory(
  sim: SimFile,
  files: CaFiles,
  options: { caName: string; groupId: string; credentialPolicy: string },
): Promise<PkiOnboardResult> {
  const admin = new SimAdmin(simAdminUrl(sim));
  const certificates: PkiOnboardResult["certificates"] = [];
  for (const [suffix, certFile, keyFile] of [
    ["root", files.rootCert, files.rootKey],
    ["intermediate", files.intermediateCert, files.intermediateKey],
  ] as const) {
    const name = `${options.caName}-${suffix}`;
    const pem = await readFile(certFile, "utf8").catch((error: unknown) => {
      throw new CliError("CA_FILE_MISSING", `cannot read ${certFile}; run \`skittle pki init\` first`, {
        cause: error,
      });
    });
    const facts = certificateFacts(pem);
    let current = await admin.certificate(name);
    let uploaded = false;
    if (current !== undefined && current.properties.thumbprint.toUpperCase() !== facts.sha1Thumbprint) {
      throw new CliError(
        "CA_NAME_TAKEN",
        `the simulator already holds a different certificate named "${name}"; delete it (skittle-sim ca delete ${name}) or pick another --name`,
      );
    }
    if (current === undefined) {
      current = await admin.call<AdminCertificate>(
        "PUT",
        `/admin/certificates/${encodeURIComponent(name)}`,
        { certificate: pem },
        { "if-none-match": "*" },
      );
      uploaded = true;
    }
    if (!current.properties.isVerified) {
      const withCode = await admin.call<AdminCertificate>(
        "POST",
        `/admin/certificates/${encodeURIComponent(name)}/generate-verification-code`,
        undefined,
        { "if-match": current.etag },
      );
      const code = withCode.properties.verificationCode;
      if (code === undefined)
        throw new CliError("SIM_PROTOCOL", `the simulator sent no verification code for ${name}`);
      const privateKey = await readPrivateKeyFile(keyFile);
      const proof = await verificationCertificate({ certificatePem: pem, privateKey }, code, {
        caLabel: certFile,
      });
      current = await admin.call<AdminCertificate>(
        "POST",
        `/admin/certificates/${encodeURIComponent(name)}/verify`,
        { certificate: proof },
        { "if-match": withCode.etag },
      );
    }
    certificates.push({
      name,
      subject: facts.subject,
      sha1Thumbprint: facts.sha1Thumbprint,
      verified: current.properties.isVerified,
      uploaded,
    });
  }

  const caName = `${options.caName}-intermediate`;
  await admin.call("PUT", `/admin/enrollment-groups/${encodeURIComponent(options.groupId)}`, {
    attestation: { type: "x509", caName },
    credentialPolicy: options.credentialPolicy,
    enabled: true,
  });
  return {
    adminUrl: admin.baseUrl,
    certificates,
    enrollmentGroup: { id: options.groupId, caName, credentialPolicy: options.credentialPolicy },
  };
}
