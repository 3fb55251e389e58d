// What an enrollment is made from, whatever wire it came over (admin API, DPS service REST, bulk operations), and
// the one place its rules are checked: keys, CA references, certificates, hubs, policies, allocation.
import { randomBytes } from "node:crypto";
import { deriveDeviceKey } from "@skittlesorter/attestation";
import { certificateFacts } from "@skittlesorter/csr";
import { serviceError } from "../errors.ts";
import type { SimContext } from "../state/context.ts";
import type {
  AllocationPolicy,
  CustomAllocationDefinition,
  Enrollment,
  EnrollmentKind,
  IndividualEnrollment,
  InitialTwin,
  ReprovisionPolicy,
} from "../state/model.ts";
import { newEtag } from "./etag.ts";

export type AttestationSpec =
  | { type: "symmetricKey"; primaryKey?: string | undefined; secondaryKey?: string | undefined }
  | {
      type: "x509";
      /** Group: names of uploaded CA certificates, primary first. */
      caReferences?: string[] | undefined;
      /** Group: signing certificates; individual: the device certificates (PEM or base64 DER), primary first. */
      certificates?: string[] | undefined;
      /** Individual: SHA-1 or SHA-256 thumbprints, primary first. */
      thumbprints?: string[] | undefined;
    };

/** An enrollment as asked for; absent fields keep the existing enrollment's value (or the default). */
export interface EnrollmentSpec {
  attestation?: AttestationSpec | undefined;
  enabled?: boolean | undefined;
  /** null removes it. */
  credentialPolicy?: string | null | undefined;
  allocationPolicy?: AllocationPolicy | undefined;
  /** Linked hubs by name or host name; null = every linked hub. */
  iotHubs?: string[] | null | undefined;
  staticHub?: string | null | undefined;
  reprovisionPolicy?: Partial<ReprovisionPolicy> | undefined;
  customAllocationDefinition?: CustomAllocationDefinition | null | undefined;
  initialTwin?: InitialTwin | null | undefined;
  iotEdge?: boolean | undefined;
  deviceId?: string | undefined;
}

export const ALLOCATION_POLICIES: readonly AllocationPolicy[] = ["hashed", "geoLatency", "static", "custom"];

const invalid = (message: string) => serviceError("SIM_INVALID_REQUEST", "INVALID_BODY", message);

function symmetricKey(value: string | undefined, what: string): string {
  if (value === undefined || value === "") return randomBytes(64).toString("base64");
  try {
    deriveDeviceKey(value, "probe");
  } catch (error) {
    throw serviceError("SIM_INVALID_REQUEST", "INVALID_KEY", `"${what}": ${(error as Error).message}`);
  }
  return value;
}

/** The given key (checked), else the kept one, else a new one: DPS generates keys left empty. */
function keyOrKept(given: string | undefined, kept: string | undefined, what: string): string {
  if (given !== undefined && given !== "") return symmetricKey(given, what);
  return kept ?? symmetricKey(undefined, what);
}

/** A certificate given as PEM or as base64 DER (both are accepted by DPS), normalized to PEM. */
export function certificatePem(value: string, what: string): string {
  const text = value.includes("-----BEGIN")
    ? value
    : `-----BEGIN CERTIFICATE-----\n${value.replace(/\s+/g, "")}\n-----END CERTIFICATE-----\n`;
  try {
    return certificateFacts(text).pem;
  } catch (error) {
    throw serviceError(
      "SIM_INVALID_REQUEST",
      "INVALID_CERTIFICATE",
      `"${what}": ${(error as Error).message}`,
    );
  }
}

function thumbprint(value: string, what: string): string {
  const clean = value.replaceAll(":", "").toUpperCase();
  if (!/^[0-9A-F]{40}$|^[0-9A-F]{64}$/.test(clean)) {
    throw serviceError(
      "SIM_INVALID_REQUEST",
      "INVALID_THUMBPRINT",
      `"${what}" must be a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) thumbprint.`,
    );
  }
  return clean;
}

function attestationOf(
  context: SimContext,
  kind: EnrollmentKind,
  spec: AttestationSpec,
  existing: Enrollment | undefined,
): Enrollment["attestation"] {
  if (spec.type === "symmetricKey") {
    const previous = existing?.attestation.type === "symmetricKey" ? existing.attestation : undefined;
    return {
      type: "symmetricKey",
      primaryKey: keyOrKept(spec.primaryKey, previous?.primaryKey, "primaryKey"),
      secondaryKey: keyOrKept(spec.secondaryKey, previous?.secondaryKey, "secondaryKey"),
    };
  }
  if (kind === "group") {
    const [caName, secondaryCaName] = spec.caReferences ?? [];
    for (const name of [caName, secondaryCaName]) {
      if (name !== undefined && context.store.getCaCertificate(name) === undefined) {
        throw serviceError(
          "SIM_NOT_FOUND",
          "CA_CERTIFICATE_NOT_FOUND",
          `CA certificate "${name}" is not uploaded; upload it first (skittle-sim ca upload).`,
        );
      }
    }
    const signing = (spec.certificates ?? []).map((pem, index) =>
      certificatePem(pem, index === 0 ? "primary signing certificate" : "secondary signing certificate"),
    );
    if (caName === undefined && signing.length === 0) {
      throw invalid(
        "An X.509 enrollment group needs a CA reference (the name of an uploaded CA certificate) or a signing certificate.",
      );
    }
    return {
      type: "x509",
      ...(caName === undefined ? {} : { caName }),
      ...(secondaryCaName === undefined ? {} : { secondaryCaName }),
      ...(signing.length === 0 ? {} : { signingCertificates: signing }),
    };
  }
  const prints = [
    ...(spec.certificates ?? []).map(
      (pem, index) => certificateFacts(certificatePem(pem, `certificate ${index + 1}`)).sha256Thumbprint,
    ),
    ...(spec.thumbprints ?? []).map((print, index) => thumbprint(print, `thumbprint ${index + 1}`)),
  ];
  const [primaryThumbprint, secondaryThumbprint] = prints;
  if (primaryThumbprint === undefined) {
    throw invalid("An X.509 individual enrollment needs the device certificate (PEM) or its thumbprint.");
  }
  return { type: "x509", primaryThumbprint, secondaryThumbprint };
}

/** Resolves a linked hub given by name or host name to its name. */
export function linkedHubName(context: SimContext, value: string): string {
  const lower = value.toLowerCase();
  const hub = context.store
    .listHubs()
    .find((item) => item.name === value || item.hostname.toLowerCase() === lower);
  if (hub === undefined) {
    throw serviceError(
      "SIM_NOT_FOUND",
      "HUB_NOT_FOUND",
      `IoT hub "${value}" is not linked to this DPS; see GET /admin/hubs.`,
    );
  }
  return hub.name;
}

function checkWebhook(definition: CustomAllocationDefinition): CustomAllocationDefinition {
  let url: URL;
  try {
    url = new URL(definition.webhookUrl);
  } catch {
    throw invalid('"customAllocationDefinition.webhookUrl" must be an absolute http(s) URL.');
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalid('"customAllocationDefinition.webhookUrl" must be an http(s) URL.');
  }
  return { webhookUrl: url.toString(), apiVersion: definition.apiVersion || "2021-10-01" };
}

type Common = Omit<
  Enrollment,
  "kind" | "id" | "attestation" | "deviceId" | "etag" | "createdDateTimeUtc" | "lastUpdatedDateTimeUtc"
>;

/** The allocation, reprovisioning and issuance settings of an enrollment, checked. */
export function commonSettings(context: SimContext, spec: EnrollmentSpec, existing?: Enrollment): Common {
  const allocationPolicy = spec.allocationPolicy ?? existing?.allocationPolicy ?? "hashed";
  if (!ALLOCATION_POLICIES.includes(allocationPolicy)) {
    throw invalid(`"allocationPolicy" must be one of ${ALLOCATION_POLICIES.join(", ")}.`);
  }
  const reprovision = spec.reprovisionPolicy ?? {};
  const result: Common = {
    enabled: spec.enabled ?? existing?.enabled ?? true,
    allocationPolicy,
    reprovisionPolicy: {
      updateHubAssignment:
        reprovision.updateHubAssignment ?? existing?.reprovisionPolicy.updateHubAssignment ?? true,
      migrateDeviceData:
        reprovision.migrateDeviceData ?? existing?.reprovisionPolicy.migrateDeviceData ?? true,
    },
  };
  const policy = spec.credentialPolicy === undefined ? existing?.credentialPolicy : spec.credentialPolicy;
  if (policy !== undefined && policy !== null) {
    if (context.store.getPolicy(context.adrNamespace, policy) === undefined) {
      throw serviceError(
        "SIM_NOT_FOUND",
        "POLICY_NOT_FOUND",
        `Credential policy ${JSON.stringify(policy)} does not exist in ADR namespace "${context.adrNamespace}"; ` +
          "create it (skittle-sim policy create) or leave credentialPolicy out.",
      );
    }
    result.credentialPolicy = policy;
  }
  const hubs = spec.iotHubs === undefined ? existing?.iotHubs : spec.iotHubs;
  if (hubs !== undefined && hubs !== null) result.iotHubs = hubs.map((hub) => linkedHubName(context, hub));
  const staticHub = spec.staticHub === undefined ? existing?.staticHub : spec.staticHub;
  if (staticHub !== undefined && staticHub !== null) result.staticHub = linkedHubName(context, staticHub);
  if (allocationPolicy === "static" && result.staticHub === undefined) {
    throw invalid(
      'Static allocation needs the linked hub to assign devices to ("staticHub" or one "iotHubs" entry).',
    );
  }
  const custom =
    spec.customAllocationDefinition === undefined
      ? existing?.customAllocationDefinition
      : spec.customAllocationDefinition;
  if (custom !== undefined && custom !== null) result.customAllocationDefinition = checkWebhook(custom);
  if (allocationPolicy === "custom" && result.customAllocationDefinition === undefined) {
    throw invalid('Custom allocation needs "customAllocationDefinition": {"webhookUrl", "apiVersion"}.');
  }
  const twin = spec.initialTwin === undefined ? existing?.initialTwin : spec.initialTwin;
  if (twin !== undefined && twin !== null) result.initialTwin = twin;
  const iotEdge = spec.iotEdge ?? existing?.iotEdge;
  if (iotEdge !== undefined) result.iotEdge = iotEdge;
  return result;
}

/** A new enrollment document (new etag) from `spec`, over `existing` when it replaces one. */
export function buildEnrollment(
  context: SimContext,
  kind: EnrollmentKind,
  enrollmentId: string,
  spec: EnrollmentSpec,
  existing: Enrollment | undefined,
): Enrollment {
  const attestationSpec = spec.attestation ?? (existing === undefined ? { type: "symmetricKey" } : undefined);
  const attestation =
    attestationSpec === undefined
      ? (existing as Enrollment).attestation
      : attestationOf(context, kind, attestationSpec, existing);
  const now = context.nowIso();
  const enrollment = {
    kind,
    id: enrollmentId,
    attestation,
    ...commonSettings(context, spec, existing),
    etag: newEtag(),
    createdDateTimeUtc: existing?.createdDateTimeUtc ?? now,
    lastUpdatedDateTimeUtc: now,
  } as Enrollment;
  if (kind === "individual") {
    const deviceId = spec.deviceId ?? (existing as IndividualEnrollment | undefined)?.deviceId;
    if (deviceId !== undefined) (enrollment as IndividualEnrollment).deviceId = deviceId;
  }
  return enrollment;
}

function plainObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalid(`${what} must be a JSON object.`);
  }
  return value as Record<string, unknown>;
}

/** `initialTwin` as DPS models it (`{tags, properties: {desired}}`); null/undefined pass through. */
export function initialTwinOf(value: unknown): InitialTwin | null | undefined {
  if (value === undefined || value === null) return value;
  const twin = plainObject(value, '"initialTwin"');
  const properties =
    twin.properties === undefined || twin.properties === null
      ? {}
      : plainObject(twin.properties, '"initialTwin.properties"');
  const tags =
    twin.tags === undefined || twin.tags === null ? {} : plainObject(twin.tags, '"initialTwin.tags"');
  const desired =
    properties.desired === undefined || properties.desired === null
      ? {}
      : plainObject(properties.desired, '"initialTwin.properties.desired"');
  return { tags, properties: { desired } };
}

/** `customAllocationDefinition` (`{webhookUrl, apiVersion}`); null/undefined pass through. */
export function customAllocationOf(value: unknown): CustomAllocationDefinition | null | undefined {
  if (value === undefined || value === null) return value;
  const definition = plainObject(value, '"customAllocationDefinition"');
  if (typeof definition.webhookUrl !== "string" || definition.webhookUrl === "") {
    throw invalid('"customAllocationDefinition.webhookUrl" must be the webhook\'s URL.');
  }
  const apiVersion = typeof definition.apiVersion === "string" ? definition.apiVersion : "2021-10-01";
  return { webhookUrl: definition.webhookUrl, apiVersion };
}
