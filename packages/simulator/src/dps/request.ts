// What a device sends to register: the JSON body and the CSR in it, checked as DPS checks them.
import { type CsrInfo, parseCsr } from "@skittlesorter/csr";
import type { Settings } from "../state/model.ts";
import { CSR_API_VERSION, DpsErrorCode, DpsFailure } from "./protocol.ts";

/** The register request body: `registrationId` (must match the connection's), `payload`, `csr` (CSR api-version only). */
export function parseRegisterBody(
  session: { registrationId: string; apiVersion: string | undefined },
  payload: Buffer,
): { csr?: string; payload?: unknown } {
  let parsed: unknown;
  const text = payload.toString("utf8").trim();
  try {
    parsed = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new DpsFailure(
      400,
      DpsErrorCode.deserialization,
      'Deserialization error: the register body is not valid JSON; send {"registrationId": "…", "payload"?: {…}, "csr"?: "…"}.',
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new DpsFailure(
      400,
      DpsErrorCode.deserialization,
      'Deserialization error: the register body must be a JSON object {"registrationId": "…", …}.',
    );
  }
  const record = parsed as Record<string, unknown>;
  if (record.registrationId !== undefined) {
    if (typeof record.registrationId !== "string") {
      throw new DpsFailure(
        400,
        DpsErrorCode.deserialization,
        "Deserialization error: registrationId must be a string.",
      );
    }
    if (record.registrationId.toLowerCase() !== session.registrationId) {
      throw new DpsFailure(
        400,
        DpsErrorCode.registrationIdMismatch,
        `The body's registrationId "${record.registrationId.slice(0, 200)}" differs from the connection's ` +
          `"${session.registrationId}" (MQTT client id and user name); send the same id in both.`,
      );
    }
  }
  const result: { csr?: string; payload?: unknown } = {};
  if (record.payload !== undefined) result.payload = record.payload;
  if (record.csr !== undefined && record.csr !== null) {
    if (session.apiVersion !== CSR_API_VERSION) {
      throw new DpsFailure(
        400,
        DpsErrorCode.deserialization,
        `Deserialization error: "csr" is only accepted with api-version=${CSR_API_VERSION}; the connection uses ` +
          `api-version=${session.apiVersion ?? "(none)"}.`,
      );
    }
    if (typeof record.csr !== "string") {
      throw new DpsFailure(
        400,
        DpsErrorCode.deserialization,
        "Deserialization error: csr must be a string (base64 DER PKCS#10 without PEM armour).",
      );
    }
    result.csr = record.csr;
  }
  return result;
}

/** Parses and checks a register request's CSR: base64 DER, self-signed, CN = registration id, an accepted key. */
export async function parseRegisterCsr(
  wire: string,
  registrationId: string,
  settings: Settings,
): Promise<CsrInfo> {
  const invalid = (message: string): DpsFailure => new DpsFailure(400, DpsErrorCode.invalidCsr, message);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(wire) || wire.length % 4 !== 0) {
    throw invalid(
      "Invalid CSR: csr must be base64 of a DER PKCS#10 request, without PEM header/footer, spaces or newlines " +
        "(e.g. `openssl req -new -key device.key -subj /CN=<registrationId> -outform DER | base64 -w0`).",
    );
  }
  let info: CsrInfo;
  try {
    info = await parseCsr(Buffer.from(wire, "base64"));
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "CSR_UNSUPPORTED_KEY_TYPE") {
      throw invalid(`Invalid CSR: ${(error as Error).message} ${keyTypesAccepted(settings)}`);
    }
    if (code === "CSR_WEAK_SIGNATURE") throw invalid(`Invalid CSR: ${(error as Error).message}`);
    throw invalid(`Invalid CSR: it is not a DER PKCS#10 certificate request (${(error as Error).message}).`);
  }
  if (!info.signatureValid) {
    throw invalid(
      "Invalid CSR: its signature does not verify with its own public key; create a new CSR signed by the device key.",
    );
  }
  if (info.commonName === undefined || info.commonName.toLowerCase() !== registrationId) {
    throw invalid(
      `Invalid CSR: its CN is ${info.commonName === undefined ? "missing" : `"${info.commonName}"`} but must be the registration id "${registrationId}".`,
    );
  }
  if (settings.strictCsr && info.keyType !== "ec-p384") {
    throw invalid(`Invalid CSR: its key is ${info.keyType}; ${keyTypesAccepted(settings)}`);
  }
  return info;
}

function keyTypesAccepted(settings: Settings): string {
  return settings.strictCsr
    ? "this simulator runs with --strict-csr and accepts EC P-384 keys only, as the 2025-07-01-preview documents."
    : "accepted: EC P-384 (recommended), EC P-256, RSA 2048/3072/4096.";
}
