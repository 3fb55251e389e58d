import type { KeyType } from "@skittlesorter/csr";
import type { DpsTransport } from "@skittlesorter/dps-mqtt";
import type { HubConnector } from "@skittlesorter/hub-client";
import type { Percentiles } from "./stats.ts";

/** What `runFleet` provisions and, optionally, sends telemetry with. */
export interface FleetOptions {
  /** DPS host. */
  host: string;
  /** DPS port (default 8883, or 443 with `transport: "wss"`). */
  port?: number | undefined;
  transport?: DpsTransport | undefined;
  idScope: string;
  /** Enrollment-group key; each device key is derived from it. */
  groupKey: string;
  /** PEM root(s) trusted for DPS's and the hub's TLS certificates (a simulator's root); default: system roots. */
  ca?: string | undefined;
  /** Number of devices (registration ids `{prefix}{index}`, index zero-padded). */
  devices: number;
  /** Devices provisioned at once; also the number connected to IoT Hub at once for telemetry. */
  concurrency: number;
  /** Registration id prefix. Default `fleet-`. */
  prefix?: string | undefined;
  /** Generate a key of this type and a CSR per device; DPS issues the certificate. Default: no CSR. */
  csrKeyType?: KeyType | undefined;
  /**
   * With `csrKeyType`: generate every device's key pair and CSR before provisioning starts, so that the
   * provisioning phase (its duration and rate) measures the service alone. Default false: each device makes its
   * own just before it provisions.
   */
  pregenerateCsrs?: boolean | undefined;
  /** Telemetry messages per device, sent through the assigned IoT Hub with QoS 1. Default 0. */
  telemetry?: number | undefined;
  /** Deadline of one device's provisioning, retries included. Default 300 000. */
  timeoutMs?: number | undefined;
  /** Clamp of DPS `retry-after` (see `provision`); lowering them load-tests a simulator without waiting. */
  minRetryAfterMs?: number | undefined;
  maxRetryAfterMs?: number | undefined;
  /** Wait for the hub's CONNACK / one message's PUBACK. Default 30 000 each. */
  hubConnectTimeoutMs?: number | undefined;
  sendTimeoutMs?: number | undefined;
  /**
   * Opens the devices' hub connections for telemetry. Default: the official `azure-iot-device` client
   * (`azureIotDeviceConnector` of @skittlesorter/hub-client) with `ca`, `hubConnectTimeoutMs` and `sendTimeoutMs`.
   */
  hubConnector?: HubConnector | undefined;
  /** Called after each device or message completes. */
  onProgress?: ((progress: FleetProgress) => void) | undefined;
  /** Stops starting new work; in-flight provisioning is aborted. */
  signal?: AbortSignal | undefined;
}

/** `keygen` only with `pregenerateCsrs`. */
export type FleetPhase = "keygen" | "provision" | "connect" | "telemetry";

export interface FleetProgress {
  phase: FleetPhase;
  done: number;
  total: number;
  failed: number;
}

/** Where a device failed: the phases of `FleetPhase`. */
export type FleetStage = FleetPhase;

/** Failures grouped by stage and code (DPS `errorCode` when DPS sent one). */
export interface FleetErrorGroup {
  stage: FleetStage;
  code: string;
  errorCode?: number;
  count: number;
  /** The first such failure's message. */
  message: string;
}

export interface FleetReport {
  target: { host: string; port: number | null; idScope: string; transport: DpsTransport };
  devices: number;
  concurrency: number;
  prefix: string;
  csrKeyType: KeyType | null;
  telemetryPerDevice: number;
  startedAt: string;
  durationMs: number;
  /** `succeeded + failed + skipped = devices`. */
  provisioning: {
    succeeded: number;
    failed: number;
    /** Not started because the run was aborted. */
    skipped: number;
    durationMs: number;
    /** Successful registrations per second of the provisioning phase (key generation included, unless `pregenerateCsrs`). */
    perSecond: number;
    /** `provision()` from connect to assigned, per successful device. */
    latencyMs: Percentiles | null;
    /** Key pair generation, per device (CSR runs only). */
    keyGenMs: Percentiles | null;
    /** CSR creation, per device (CSR runs only). */
    csrMs: Percentiles | null;
    /** Retries after 429/5xx answers, dropped connections and unanswered requests. */
    retries: number;
  };
  /** With `telemetryPerDevice > 0`: `acknowledged + failed + notSent = attempted = provisioned × M`. */
  telemetry: {
    /** Provisioned devices that tried to connect: `connected + connectFailed`. */
    devices: number;
    connected: number;
    connectFailed: number;
    connectMs: Percentiles | null;
    attempted: number;
    acknowledged: number;
    failed: number;
    /** Messages of devices that could not connect (or of an aborted run). */
    notSent: number;
    /** Time spent sending (all devices of a wave connected), summed over waves. */
    durationMs: number;
    perSecond: number;
    /** From `sendEvent` to the hub's PUBACK. */
    ackLatencyMs: Percentiles | null;
  } | null;
  /** Every failure once: device-level for keygen/provision/connect, message-level for telemetry. */
  errors: FleetErrorGroup[];
  retries: number;
}
