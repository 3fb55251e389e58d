import { randomBytes } from "node:crypto";
import {
  type Attestation,
  deriveDeviceKey,
  loadX509Attestation,
  symmetricKeyAttestation,
} from "@skittlesorter/attestation";
import {
  createCsr,
  generateKeyPair,
  issueCertificate,
  type KeyPair,
  privateKeyToPem,
} from "@skittlesorter/csr";
import { provision } from "@skittlesorter/dps-mqtt";
import type { AdminClient } from "../admin/client.ts";
import type { SimConfig } from "../config.ts";
import { testCa } from "./test-ca.ts";

/** What the helpers need of a simulator: `startSimulator`'s result has both. */
export interface SimulatorLike {
  readonly config: SimConfig;
  readonly admin: AdminClient;
}

export interface ProvisionDeviceOptions {
  /** How the device proves itself to DPS. Default `symmetricKey` (the default enrollment group's derived key). */
  attestation?: "symmetricKey" | "x509" | undefined;
  /** Send a CSR: DPS issues the device's operational certificate (ADR credential policy `default`). Default false. */
  csr?: boolean | undefined;
  /** Default: a fresh `device-<hex>`. */
  registrationId?: string | undefined;
  /** Symmetric key: the enrollment group key to derive the device key from. Default: the first group's in `config`. */
  groupKey?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** A provisioned device's IoT Hub credentials, ready for `azure-iot-device` or `@skittlesorter/hub-mqtt`. */
export interface DeviceCredentials {
  registrationId: string;
  deviceId: string;
  /** `host:port` as DPS assigned it (the official client's `HostName`); a bare `localhost` in edge mode. */
  assignedHub: string;
  /** The hub's address and MQTT/TLS port, and its MQTT-over-WebSocket URL. */
  hubHost: string;
  hubPort: number;
  hubWsUrl: string;
  /** PEM of the root to trust for the hub's TLS. */
  caPem: string;
  /** How the device authenticates to the hub: its SAS key, or a certificate chain and key. */
  auth: "sas" | "x509";
  /** SAS: the device key (derived from the group key). */
  deviceKey?: string;
  /** X.509: the chain to present (leaf first, PEM bundle) and its private key (PKCS#8 PEM). */
  certificateChainPem?: string;
  privateKeyPem?: string;
  /**
   * For `Client.fromConnectionString(…, Mqtt)` of `azure-iot-device`: `SharedAccessKey=…`, or `x509=true` (then set
   * `cert`, `key` and `ca` with `setOptions`).
   */
  connectionString: string;
}

async function x509Bootstrap(
  sim: SimulatorLike,
  registrationId: string,
  signal: AbortSignal | undefined,
): Promise<{ attestation: Attestation; chainPem: string; keyPem: string }> {
  const ca = await testCa(sim.admin, signal);
  const keyPair = await generateKeyPair("ec-p256");
  const leaf = await issueCertificate({
    publicKey: keyPair.publicKey,
    commonName: registrationId,
    issuer: { certificatePem: ca.certificatePem, privateKey: ca.privateKey },
    validityDays: 30,
    extendedKeyUsage: ["clientAuth"],
    signal,
  });
  const keyPem = privateKeyToPem(keyPair.privateKey);
  const attestation = await loadX509Attestation({ cert: leaf, key: keyPem }, { signal });
  return { attestation, chainPem: `${leaf.trimEnd()}\n${ca.certificatePem}`, keyPem };
}

function defaultGroupKey(config: SimConfig): string {
  const key = config.enrollmentGroups.find(
    (group) => group.attestation === "symmetricKey" && group.primaryKey,
  )?.primaryKey;
  if (key === undefined) {
    throw new Error(
      "The simulator has no symmetric-key enrollment group with a key in its config; create one first.",
    );
  }
  return key;
}

/**
 * Provisions a device through the simulator's DPS (with `@skittlesorter/dps-mqtt`, as a device would) and returns
 * its hub credentials. `x509` uploads and verifies a test CA and creates an X.509 enrollment group on first use.
 */
export async function provisionDevice(
  sim: SimulatorLike,
  options: ProvisionDeviceOptions = {},
): Promise<DeviceCredentials> {
  const { config } = sim;
  const registrationId = options.registrationId ?? `device-${randomBytes(6).toString("hex")}`;
  const groupKey = options.attestation === "x509" ? undefined : (options.groupKey ?? defaultGroupKey(config));
  const bootstrap =
    options.attestation === "x509" ? await x509Bootstrap(sim, registrationId, options.signal) : undefined;
  const attestation =
    bootstrap?.attestation ?? symmetricKeyAttestation({ registrationId, groupKey: groupKey ?? "" });
  const csrKey: KeyPair | undefined = options.csr === true ? await generateKeyPair("ec-p256") : undefined;
  const csr = csrKey === undefined ? undefined : await createCsr(registrationId, csrKey);
  const result = await provision({
    host: config.dps.host,
    port: config.dps.port,
    idScope: config.idScope,
    ca: config.trustedCa,
    attestation,
    csr:
      csr === undefined || csrKey === undefined ? undefined : { wire: csr.wire, publicKey: csrKey.publicKey },
    minRetryAfterMs: 0,
    maxRetryAfterMs: 50,
    timeoutMs: 20_000,
    signal: options.signal,
  });
  const [hub] = config.hubs;
  const common = {
    registrationId,
    deviceId: result.deviceId,
    assignedHub: result.assignedHub,
    hubHost: hub?.host ?? config.dps.host,
    hubPort: hub?.port ?? Number(result.assignedHub.split(":").pop()),
    hubWsUrl: hub?.wsUrl ?? "",
    caPem: config.trustedCa,
  };
  const chainPem = result.issuedCertificateChain?.bundle ?? bootstrap?.chainPem;
  const keyPem = csrKey === undefined ? bootstrap?.keyPem : privateKeyToPem(csrKey.privateKey);
  if (chainPem !== undefined && keyPem !== undefined) {
    return {
      ...common,
      auth: "x509",
      certificateChainPem: chainPem,
      privateKeyPem: keyPem,
      connectionString: `HostName=${result.assignedHub};DeviceId=${result.deviceId};x509=true`,
    };
  }
  const deviceKey = deriveDeviceKey(groupKey ?? "", registrationId);
  return {
    ...common,
    auth: "sas",
    deviceKey,
    connectionString: `HostName=${result.assignedHub};DeviceId=${result.deviceId};SharedAccessKey=${deviceKey}`,
  };
}
