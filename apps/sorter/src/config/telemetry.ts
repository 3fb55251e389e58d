import { validateRegistrationId } from "@skittlesorter/attestation";
import { DPS_CSR_API_VERSION, DPS_GLOBAL_HOST } from "@skittlesorter/dps-mqtt";
import { describeError } from "../errors.ts";
import type { Resolution } from "./context.ts";
import { ENV_PREFIX } from "./env.ts";
import type { RawConfig } from "./schema.ts";
import type { DpsAttestationSettings, DpsSettings, TelemetrySettings } from "./types.ts";

type RawDps = NonNullable<NonNullable<RawConfig["IoTHub"]>["DpsProvisioning"]>;

const at = "IoTHub.DpsProvisioning";

/** IoT Hub telemetry, and the DPS settings it needs when it is on. */
export function resolveTelemetry(
  raw: RawConfig,
  context: Resolution,
): { telemetry: TelemetrySettings; dps: DpsSettings | undefined } {
  const { problem } = context;
  const hub = raw.IoTHub ?? {};
  const telemetryEnabled = hub.SendTelemetry ?? true;
  if (hub.DeviceConnectionString !== undefined && !/^<|^YOUR_/i.test(hub.DeviceConnectionString)) {
    context.warn(
      "IoTHub.DeviceConnectionString is ignored: the sorter always provisions through DPS and connects with its issued certificate.",
    );
  }
  let dps: DpsSettings | undefined;
  if (telemetryEnabled) {
    if (hub.DpsProvisioning === undefined) {
      problem(
        at,
        "section is missing.",
        "add it (see the templates), or set IoTHub.SendTelemetry to false to sort offline.",
      );
    }
    dps = resolveDps(hub.DpsProvisioning ?? {}, context);
  }
  return {
    telemetry: {
      enabled: telemetryEnabled,
      client: hub.Client ?? "azure-iot-device",
      configuredDeviceId: hub.DeviceId,
      twinReportIntervalMs: hub.TwinReportIntervalMs ?? 30_000,
    },
    dps,
  };
}

function resolveDps(d: RawDps, context: Resolution): DpsSettings {
  const { problem } = context;
  const idScope = d.IdScope;
  if (idScope === undefined) {
    problem(
      `${at}.IdScope`,
      "is required.",
      "copy the ID scope from your DPS instance (Azure portal → DPS → Overview, e.g. 0ne00012345) or from the simulator's sim.json.",
    );
  } else if (!/^[A-Za-z0-9]+$/.test(idScope)) {
    problem(
      `${at}.IdScope`,
      "must be letters and digits only.",
      "copy the ID scope exactly, e.g. 0ne00012345.",
    );
  }
  let registrationId = d.RegistrationId;
  if (registrationId === undefined) {
    problem(
      `${at}.RegistrationId`,
      "is required.",
      "choose the device's registration id: up to 128 of a-z 0-9 . : _ -, e.g. skittle-sorter-01.",
    );
  } else {
    try {
      registrationId = validateRegistrationId(registrationId);
    } catch (error) {
      problem(
        `${at}.RegistrationId`,
        describeError(error).replace(/^[A-Z_]+: /, ""),
        "use up to 128 of a-z 0-9 . : _ -, starting and ending with a letter or digit.",
      );
    }
  }
  const hostValue = d.ProvisioningHost ?? DPS_GLOBAL_HOST;
  const hostMatch = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostValue);
  if (hostMatch === null) {
    problem(
      `${at}.ProvisioningHost`,
      "is not a host name or host:port.",
      `use ${DPS_GLOBAL_HOST} (or the simulator's host:port).`,
    );
  }
  const transport = d.Transport ?? "mqtts";
  const port =
    hostMatch?.[2] !== undefined ? Number(hostMatch[2]) : (d.MqttPort ?? (transport === "wss" ? 443 : 8883));
  if (!(port > 0 && port < 65536))
    problem(`${at}.MqttPort`, "must be 1–65535.", "use 8883 (MQTT over TLS) or 443 with Transport wss.");
  const attestation =
    (d.AttestationMethod ?? "SymmetricKey") === "SymmetricKey"
      ? symmetricKeyAttestation(d, context)
      : x509Attestation(d, context);
  const apiVersion = d.ApiVersion ?? DPS_CSR_API_VERSION;
  if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion) || apiVersion < DPS_CSR_API_VERSION) {
    problem(
      `${at}.ApiVersion`,
      `"${apiVersion}" cannot issue certificates from a CSR.`,
      `use ${DPS_CSR_API_VERSION} (or remove the key).`,
    );
  }
  if (d.AutoGenerateCsr === false) {
    problem(
      `${at}.AutoGenerateCsr`,
      "false is not supported: the sorter makes a fresh key and CSR for every certificate it gets.",
      "set it to true or remove it.",
    );
  }
  const sasTtlSeconds = d.SasExpirySeconds ?? 3600;
  if (sasTtlSeconds < 60) problem(`${at}.SasExpirySeconds`, "must be 60 or more.", "use 3600.");
  return {
    host: hostMatch?.[1] ?? hostValue,
    port,
    transport,
    idScope: idScope ?? "",
    registrationId: registrationId ?? "",
    attestation,
    apiVersion,
    sasTtlSeconds,
    timeoutMs: d.TimeoutMs ?? 300_000,
    debug: d.EnableDebugLogging ?? false,
  };
}

function symmetricKeyAttestation(d: RawDps, { problem }: Resolution): DpsAttestationSettings {
  const groupKey = d.EnrollmentGroupKeyBase64;
  const deviceKey = d.DeviceKeyBase64;
  if (groupKey === undefined && deviceKey === undefined) {
    problem(
      `${at}.EnrollmentGroupKeyBase64`,
      "is required for SymmetricKey attestation (or DeviceKeyBase64).",
      `put the enrollment group's primary key in the environment variable ${ENV_PREFIX}IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64 (keeps it out of the file), or set it here.`,
    );
  }
  for (const [key, value] of [
    ["EnrollmentGroupKeyBase64", groupKey],
    ["DeviceKeyBase64", deviceKey],
  ] as const) {
    if (value !== undefined && !isBase64Key(value)) {
      problem(
        `${at}.${key}`,
        "is not a base64 key of at least 16 bytes.",
        "copy the key exactly as DPS shows it (base64, e.g. 88 characters for 64 bytes).",
      );
    }
  }
  return {
    kind: "symmetricKey",
    groupKey,
    // The group key wins: a device key next to it is not used.
    deviceKey: groupKey === undefined ? deviceKey : undefined,
  };
}

function x509Attestation(d: RawDps, { problem, mustExist }: Resolution): DpsAttestationSettings {
  const certPath = mustExist(
    `${at}.AttestationCertPath`,
    d.AttestationCertPath,
    "the onboarding certificate",
  );
  const keyPath = mustExist(`${at}.AttestationKeyPath`, d.AttestationKeyPath, "the onboarding key");
  const chainPath = mustExist(
    `${at}.AttestationCertChainPath`,
    d.AttestationCertChainPath,
    "the certificate chain",
  );
  if (certPath === undefined) {
    problem(
      `${at}.AttestationCertPath`,
      "is required for X509 attestation.",
      "point it at the onboarding (bootstrap) certificate PEM whose CN is the registration id.",
    );
  }
  if (keyPath === undefined) {
    problem(
      `${at}.AttestationKeyPath`,
      "is required for X509 attestation.",
      "point it at the onboarding certificate's private key PEM.",
    );
  }
  return {
    kind: "x509",
    certPath: certPath ?? "",
    keyPath: keyPath ?? "",
    chainPath,
  };
}

function isBase64Key(value: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) return false;
  return Buffer.from(value, "base64").length >= 16;
}
