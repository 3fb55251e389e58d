// The DPS service REST shapes (api-version 2021-10-01, as azure-iot-provisioning-service 1.11 sends and reads them):
// enrollments and registration states to and from the stored model.
import { X509Certificate } from "node:crypto";
import { serviceError } from "../../errors.ts";
import type { Enrollment, EnrollmentKind, LinkedHub, Registration } from "../../state/model.ts";
import { certificateInfo } from "../../state/x509.ts";
import {
  ALLOCATION_POLICIES,
  type AttestationSpec,
  customAllocationOf,
  type EnrollmentSpec,
  initialTwinOf,
} from "../enrollment-spec.ts";

const invalid = (message: string) => serviceError("SIM_INVALID_REQUEST", "INVALID_BODY", message);

function record(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(`${what} must be a JSON object.`);
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw invalid(`${what} must be a string.`);
  return value;
}

function flag(value: unknown, what: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalid(`${what} must be true or false.`);
  return value;
}

function given(...values: (string | undefined)[]): string[] | undefined {
  const list = values.filter((value): value is string => value !== undefined);
  return list.length === 0 ? undefined : list;
}

function attestationFromWire(kind: EnrollmentKind, value: unknown): AttestationSpec | undefined {
  const attestation = record(value, '"attestation"');
  if (attestation.type === "symmetricKey") {
    const keys = record(attestation.symmetricKey, '"attestation.symmetricKey"');
    return {
      type: "symmetricKey",
      primaryKey: text(keys.primaryKey, '"symmetricKey.primaryKey"'),
      secondaryKey: text(keys.secondaryKey, '"symmetricKey.secondaryKey"'),
    };
  }
  if (attestation.type !== "x509") {
    throw invalid(
      `Attestation type ${JSON.stringify(attestation.type ?? null)} is not supported; use "symmetricKey" or "x509".`,
    );
  }
  const x509 = record(attestation.x509, '"attestation.x509"');
  const certificate = (pair: Record<string, unknown>, which: "primary" | "secondary") =>
    text(record(pair[which], `"${which}"`).certificate, `"${which}.certificate"`);
  // A certificate read back from DPS carries only its info: its thumbprint stands for it.
  const thumbprint = (pair: Record<string, unknown>, which: "primary" | "secondary") => {
    const info = record(record(pair[which], `"${which}"`).info, `"${which}.info"`);
    return text(info.sha256Thumbprint ?? info.sha1Thumbprint, `"${which}.info thumbprint"`);
  };
  if (kind === "individual") {
    const client = record(x509.clientCertificates, '"x509.clientCertificates"');
    return {
      type: "x509",
      certificates: given(certificate(client, "primary"), certificate(client, "secondary")),
      thumbprints: given(
        certificate(client, "primary") === undefined ? thumbprint(client, "primary") : undefined,
        certificate(client, "secondary") === undefined ? thumbprint(client, "secondary") : undefined,
      ),
    };
  }
  const references = record(x509.caReferences, '"x509.caReferences"');
  const signing = record(x509.signingCertificates, '"x509.signingCertificates"');
  const caReferences = given(
    text(references.primary, '"caReferences.primary"'),
    text(references.secondary, '"caReferences.secondary"'),
  );
  const certificates = given(certificate(signing, "primary"), certificate(signing, "secondary"));
  // Signing certificates read back (info only) mean "keep the group's own".
  if (caReferences === undefined && certificates === undefined && signing.primary !== undefined)
    return undefined;
  return { type: "x509", caReferences, certificates };
}

/** A DPS service REST enrollment body as a spec; `id` is the one in the body, when there is one. */
export function specFromWire(
  kind: EnrollmentKind,
  value: unknown,
): { id: string | undefined; spec: EnrollmentSpec } {
  const body = record(value, "The enrollment");
  const id = text(
    kind === "group" ? body.enrollmentGroupId : body.registrationId,
    kind === "group" ? '"enrollmentGroupId"' : '"registrationId"',
  );
  const status = body.provisioningStatus;
  if (status !== undefined && status !== null && status !== "enabled" && status !== "disabled") {
    throw invalid('"provisioningStatus" must be "enabled" or "disabled".');
  }
  const policy = body.allocationPolicy ?? undefined;
  if (policy !== undefined && policy !== null && !ALLOCATION_POLICIES.includes(policy as never)) {
    throw invalid(`"allocationPolicy" must be one of ${ALLOCATION_POLICIES.join(", ")}.`);
  }
  const hubs = body.iotHubs;
  if (
    hubs !== undefined &&
    hubs !== null &&
    (!Array.isArray(hubs) || hubs.some((hub) => typeof hub !== "string"))
  ) {
    throw invalid('"iotHubs" must be an array of linked hub host names.');
  }
  const hubList = Array.isArray(hubs) && hubs.length > 0 ? (hubs as string[]) : null;
  const hostName = text(body.iotHubHostName, '"iotHubHostName"');
  const reprovision = record(body.reprovisionPolicy, '"reprovisionPolicy"');
  const updateHubAssignment = flag(
    reprovision.updateHubAssignment,
    '"reprovisionPolicy.updateHubAssignment"',
  );
  const migrateDeviceData = flag(reprovision.migrateDeviceData, '"reprovisionPolicy.migrateDeviceData"');
  const spec: EnrollmentSpec = {
    attestation: attestationFromWire(kind, body.attestation),
    enabled: status === undefined || status === null ? true : status === "enabled",
    allocationPolicy: (policy ?? "hashed") as EnrollmentSpec["allocationPolicy"],
    iotHubs: hubList,
    // Static allocation names its hub in iotHubHostName (older clients) or as the one iotHubs entry.
    staticHub: policy === "static" ? (hostName ?? hubList?.[0] ?? null) : null,
    reprovisionPolicy: {
      ...(updateHubAssignment === undefined ? {} : { updateHubAssignment }),
      ...(migrateDeviceData === undefined ? {} : { migrateDeviceData }),
    },
    customAllocationDefinition: customAllocationOf(body.customAllocationDefinition) ?? null,
    initialTwin: initialTwinOf(body.initialTwin) ?? null,
    iotEdge: flag(record(body.capabilities, '"capabilities"').iotEdge, '"capabilities.iotEdge"') ?? false,
    deviceId: kind === "individual" ? text(body.deviceId, '"deviceId"') : undefined,
  };
  return { id, spec };
}

function certificateView(pem: string): Record<string, unknown> {
  return { info: certificateInfo(new X509Certificate(pem)) };
}

function thumbprintView(thumbprint: string): Record<string, unknown> {
  return {
    info: thumbprint.length === 40 ? { sha1Thumbprint: thumbprint } : { sha256Thumbprint: thumbprint },
  };
}

/** The attestation mechanism; keys only with `includeKeys` (the webhook's copy has none). */
export function attestationToWire(enrollment: Enrollment, includeKeys: boolean): Record<string, unknown> {
  const { attestation } = enrollment;
  if (attestation.type === "symmetricKey") {
    return {
      type: "symmetricKey",
      symmetricKey: includeKeys
        ? { primaryKey: attestation.primaryKey, secondaryKey: attestation.secondaryKey }
        : {},
    };
  }
  if ("primaryThumbprint" in attestation) {
    const clientCertificates: Record<string, unknown> = {
      primary: thumbprintView(attestation.primaryThumbprint),
    };
    if (attestation.secondaryThumbprint !== undefined)
      clientCertificates.secondary = thumbprintView(attestation.secondaryThumbprint);
    return { type: "x509", x509: { clientCertificates } };
  }
  const x509: Record<string, unknown> = {};
  if (attestation.caName !== undefined)
    x509.caReferences = { primary: attestation.caName, secondary: attestation.secondaryCaName ?? null };
  const [primary, secondary] = attestation.signingCertificates ?? [];
  if (primary !== undefined) {
    x509.signingCertificates = {
      primary: certificateView(primary),
      ...(secondary === undefined ? {} : { secondary: certificateView(secondary) }),
    };
  }
  return { type: "x509", x509 };
}

function hostNames(names: readonly string[] | undefined, hubs: readonly LinkedHub[]): string[] | undefined {
  return names?.map((name) => hubs.find((hub) => hub.name === name)?.hostname ?? name);
}

/** An enrollment as the DPS service REST answers it. */
export function enrollmentToWire(
  enrollment: Enrollment,
  hubs: readonly LinkedHub[],
  options: { includeKeys: boolean; registration?: Registration | undefined },
): Record<string, unknown> {
  const body: Record<string, unknown> =
    enrollment.kind === "group" ? { enrollmentGroupId: enrollment.id } : { registrationId: enrollment.id };
  if (enrollment.kind === "individual" && enrollment.deviceId !== undefined)
    body.deviceId = enrollment.deviceId;
  if (options.registration !== undefined)
    body.registrationState = registrationToWire(options.registration, hubs);
  Object.assign(body, {
    attestation: attestationToWire(enrollment, options.includeKeys),
    capabilities: { iotEdge: enrollment.iotEdge ?? false },
    etag: enrollment.etag,
    provisioningStatus: enrollment.enabled ? "enabled" : "disabled",
    reprovisionPolicy: enrollment.reprovisionPolicy,
    createdDateTimeUtc: enrollment.createdDateTimeUtc,
    lastUpdatedDateTimeUtc: enrollment.lastUpdatedDateTimeUtc,
    allocationPolicy: enrollment.allocationPolicy,
  });
  const iotHubs = hostNames(
    enrollment.staticHub === undefined ? enrollment.iotHubs : [enrollment.staticHub],
    hubs,
  );
  if (iotHubs !== undefined) body.iotHubs = iotHubs;
  if (enrollment.staticHub !== undefined) body.iotHubHostName = iotHubs?.[0];
  if (enrollment.initialTwin !== undefined) body.initialTwin = enrollment.initialTwin;
  if (enrollment.customAllocationDefinition !== undefined)
    body.customAllocationDefinition = enrollment.customAllocationDefinition;
  return body;
}

/** A registration state (`DeviceRegistrationState`). */
export function registrationToWire(
  registration: Registration,
  hubs: readonly LinkedHub[],
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    registrationId: registration.registrationId,
    createdDateTimeUtc: registration.createdDateTimeUtc,
  };
  if (registration.hub !== undefined)
    body.assignedHub = hubs.find((hub) => hub.name === registration.hub)?.hostname ?? registration.hub;
  if (registration.deviceId !== undefined) body.deviceId = registration.deviceId;
  body.status = registration.status;
  if (registration.substatus !== undefined) body.substatus = registration.substatus;
  if (registration.errorCode !== undefined) body.errorCode = registration.errorCode;
  if (registration.errorMessage !== undefined) body.errorMessage = registration.errorMessage;
  body.lastUpdatedDateTimeUtc = registration.lastUpdatedDateTimeUtc;
  body.etag = registration.etag;
  if (registration.payload !== undefined) body.payload = registration.payload;
  return body;
}
