import { type Attestation, loadX509Attestation, symmetricKeyAttestation } from "@skittlesorter/attestation";
import type { Clock, Logger } from "@skittlesorter/core";
import { type MqttConnect, provision } from "@skittlesorter/dps-mqtt";
import type { DpsSettings } from "./config/index.ts";
import type { Provisioner } from "./credentials.ts";
import { SorterError } from "./errors.ts";

export interface DpsProvisionerOptions {
  /** PEM root(s) to trust for DPS's TLS certificate (a local simulator); default: the system roots. */
  ca?: string | undefined;
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  /** Injected MQTT connector (tests). */
  connect?: MqttConnect | undefined;
  userAgent?: string | undefined;
}

/** A {@link Provisioner} that registers with DPS over MQTT (`@skittlesorter/dps-mqtt`), sending the CSR. */
export function createDpsProvisioner(
  settings: DpsSettings,
  options: DpsProvisionerOptions = {},
): Provisioner {
  return async (request) => {
    const attestation = await attestationFor(settings, request.signal);
    if (attestation.registrationId !== request.registrationId) {
      throw new SorterError(
        "CREDENTIALS_INVALID",
        `The onboarding certificate's CN is "${attestation.registrationId}" but IoTHub.DpsProvisioning.RegistrationId is ` +
          `"${request.registrationId}". DPS takes the registration id from the certificate: set RegistrationId to ` +
          `"${attestation.registrationId}" or use this device's own onboarding certificate.`,
      );
    }
    const result = await provision({
      host: settings.host,
      port: settings.port,
      transport: settings.transport,
      idScope: settings.idScope,
      attestation,
      csr: request.csr,
      apiVersion: settings.apiVersion,
      sasTtlSeconds: settings.sasTtlSeconds,
      timeoutMs: settings.timeoutMs,
      ca: options.ca,
      logger: options.logger,
      clock: options.clock,
      connect: options.connect,
      userAgent: options.userAgent,
      signal: request.signal,
    });
    const chain = result.issuedCertificateChain;
    if (chain === undefined) {
      throw new SorterError(
        "CREDENTIALS_INVALID",
        "DPS assigned the device but issued no certificate. Link the enrollment to an ADR credential policy.",
      );
    }
    return { deviceId: result.deviceId, assignedHub: result.assignedHub, chainPems: chain.pems };
  };
}

async function attestationFor(settings: DpsSettings, signal: AbortSignal | undefined): Promise<Attestation> {
  const { attestation, registrationId } = settings;
  if (attestation.kind === "symmetricKey") {
    if (attestation.groupKey !== undefined)
      return symmetricKeyAttestation({ registrationId, groupKey: attestation.groupKey });
    if (attestation.deviceKey !== undefined)
      return symmetricKeyAttestation({ registrationId, deviceKey: attestation.deviceKey });
    throw new SorterError(
      "CONFIG_INVALID",
      "No symmetric key configured; set IoTHub.DpsProvisioning.EnrollmentGroupKeyBase64.",
    );
  }
  return loadX509Attestation(
    {
      cert: attestation.certPath,
      key: attestation.keyPath,
      chain: attestation.chainPath,
    },
    { signal },
  );
}
