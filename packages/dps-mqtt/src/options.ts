import type { KeyObject } from "node:crypto";
import { type Attestation, mqttCredentials } from "@skittlesorter/attestation";
import {
  type Clock,
  checkDurationMs,
  type Logger,
  noopLogger,
  type OperationOptions,
  packageUserAgent,
  resolveMqttEndpoint,
  systemClock,
} from "@skittlesorter/core";
import { checkCsrFor } from "@skittlesorter/csr";
import { type IClientOptions, connect as mqttConnect } from "mqtt";
import { DpsError } from "./errors.ts";
import { csrWireForm, DPS_API_VERSION, DPS_CSR_API_VERSION } from "./protocol.ts";
import type { MqttConnect } from "./session.ts";

// What provision() accepts, and how it is checked and defaulted before any connection is made: kept apart
// from the register/poll loop in provision.ts so that loop reads without the validation around it.

/** `mqtts`: MQTT over TLS, port 8883. `wss`: MQTT over WebSocket, port 443, path `/$iothub/websocket`. */
export type DpsTransport = "mqtts" | "wss";

/** The CSR to send, and the public key the issued leaf must carry. */
export interface ProvisionCsr {
  /** The CSR: base64 DER (the `wire` of `createCsr`) or PEM. Its CN must equal the registration id. */
  wire: string;
  /** Public key of the key pair the CSR was made with. */
  publicKey: KeyObject;
}

export interface ProvisionOptions extends OperationOptions {
  /** DPS host, e.g. `global.azure-devices-provisioning.net`. */
  host: string;
  /** Default 8883 (`mqtts`) or 443 (`wss`). */
  port?: number | undefined;
  /** Default `mqtts`. */
  transport?: DpsTransport | undefined;
  /** The DPS instance's ID scope. */
  idScope: string;
  /** Onboarding credential: symmetric key (SAS) or X.509 (TLS client certificate). */
  attestation: Attestation;
  /** Ask DPS to issue an operational certificate for this CSR (api-version 2025-07-01-preview). */
  csr?: ProvisionCsr | undefined;
  /** Custom allocation data sent as `payload`. Must be JSON-serialisable. */
  payload?: unknown;
  /** Overrides the API version (default `2025-07-01-preview` with a CSR, else `2019-03-31`). */
  apiVersion?: string | undefined;
  /** Trusted roots for the server's TLS certificate (PEM); default: the system roots. */
  ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined;
  /** Overall deadline of the whole operation, retries and reconnects included. Default 300 000 (5 min). */
  timeoutMs?: number | undefined;
  /** How long to wait for the answer to one request before reconnecting. Default 30 000. */
  requestTimeoutMs?: number | undefined;
  /** How long to wait for CONNACK. Default 30 000. */
  connectTimeoutMs?: number | undefined;
  /** Poll interval when DPS sends no `retry-after` (plus up to 50 % jitter). Default 2 000. */
  pollIntervalMs?: number | undefined;
  /** Lower bound applied to `retry-after`. Default 1 000. */
  minRetryAfterMs?: number | undefined;
  /** Upper bound applied to `retry-after`. Default 300 000. */
  maxRetryAfterMs?: number | undefined;
  /** First backoff ceiling for 429/5xx without `retry-after` and for reconnects. Default 1 000. */
  initialBackoffMs?: number | undefined;
  /** Largest backoff ceiling. Default 60 000. */
  maxBackoffMs?: number | undefined;
  /** Lifetime of each SAS token (a fresh one per connection). Default 3600. */
  sasTtlSeconds?: number | undefined;
  /** MQTT keep-alive in seconds. Default 60. */
  keepAliveSeconds?: number | undefined;
  /** Sent as `ClientVersion` in the username. Default `skittlesorter-dps-mqtt/{version}`. */
  userAgent?: string | undefined;
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  /** Random source in [0, 1) for jitter. Default `Math.random`. */
  random?: (() => number) | undefined;
  /** MQTT connector; default `mqtt.connect`. */
  connect?: MqttConnect | undefined;
}

/** ProvisionOptions checked, trimmed and defaulted: what the register/poll loop runs on. */
export interface Settings {
  host: string;
  port: number;
  transport: DpsTransport;
  idScope: string;
  attestation: Attestation;
  registrationId: string;
  csr: ProvisionCsr | undefined;
  csrWire: string | undefined;
  payload: unknown;
  apiVersion: string;
  ca: IClientOptions["ca"];
  timeoutMs: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  pollIntervalMs: number;
  minRetryAfterMs: number;
  maxRetryAfterMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  sasTtlSeconds: number | undefined;
  keepAliveSeconds: number;
  userAgent: string;
  logger: Logger;
  clock: Clock;
  random: () => number;
  connect: MqttConnect;
}

export async function resolveSettings(options: ProvisionOptions): Promise<Settings> {
  const invalid = (message: string, cause?: unknown): DpsError =>
    new DpsError("DPS_INVALID_OPTIONS", message, { cause });
  if (typeof options.host !== "string" || options.host.trim() === "") {
    throw invalid("host is required: the DPS host name, e.g. global.azure-devices-provisioning.net.");
  }
  if (typeof options.idScope !== "string" || options.idScope.trim() === "") {
    throw invalid('idScope is required: the ID scope of the DPS instance (e.g. "0ne00000A0A").');
  }
  const attestation = options.attestation;
  if (attestation?.kind !== "symmetricKey" && attestation?.kind !== "x509") {
    throw invalid("attestation is required: use symmetricKeyAttestation() or loadX509Attestation().");
  }
  const { transport, port, keepAliveSeconds, ca } = resolveMqttEndpoint(options, invalid);
  const registrationId = attestation.registrationId;
  try {
    // Validates the id scope and the registration id, without keeping the credentials.
    mqttCredentials(attestation, { idScope: options.idScope });
  } catch (error) {
    throw invalid(error instanceof Error ? error.message : String(error), error);
  }

  let csrWire: string | undefined;
  if (options.csr !== undefined) {
    csrWire = await checkCsr(options.csr, registrationId, invalid);
  }
  if (options.payload !== undefined) {
    try {
      JSON.stringify(options.payload);
    } catch (error) {
      throw invalid("payload must be JSON-serialisable.", error);
    }
  }

  const duration = (name: string, value: number | undefined, fallback: number, min = 0): number =>
    checkDurationMs(name, value ?? fallback, min, invalid);
  const timeoutMs = duration("timeoutMs", options.timeoutMs, 300_000, 1);
  const minRetryAfterMs = duration("minRetryAfterMs", options.minRetryAfterMs, 1_000);
  const maxRetryAfterMs = duration("maxRetryAfterMs", options.maxRetryAfterMs, 300_000);
  if (maxRetryAfterMs < minRetryAfterMs) {
    throw invalid(`maxRetryAfterMs (${maxRetryAfterMs}) is below minRetryAfterMs (${minRetryAfterMs}).`);
  }

  return {
    host: options.host.trim(),
    port,
    transport,
    idScope: options.idScope.trim(),
    attestation,
    registrationId,
    csr: options.csr,
    csrWire,
    payload: options.payload,
    apiVersion: options.apiVersion ?? (csrWire === undefined ? DPS_API_VERSION : DPS_CSR_API_VERSION),
    ca,
    timeoutMs,
    requestTimeoutMs: duration("requestTimeoutMs", options.requestTimeoutMs, 30_000, 1),
    connectTimeoutMs: duration("connectTimeoutMs", options.connectTimeoutMs, 30_000, 1),
    pollIntervalMs: duration("pollIntervalMs", options.pollIntervalMs, 2_000),
    minRetryAfterMs,
    maxRetryAfterMs,
    initialBackoffMs: duration("initialBackoffMs", options.initialBackoffMs, 1_000),
    maxBackoffMs: duration("maxBackoffMs", options.maxBackoffMs, 60_000),
    sasTtlSeconds: options.sasTtlSeconds,
    keepAliveSeconds,
    userAgent:
      options.userAgent ??
      packageUserAgent("skittlesorter-dps-mqtt", new URL("../package.json", import.meta.url)),
    logger: options.logger ?? noopLogger,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    connect: options.connect ?? mqttConnect,
  };
}

async function checkCsr(
  csr: ProvisionCsr,
  registrationId: string,
  invalid: (message: string, cause?: unknown) => DpsError,
): Promise<string> {
  let wire: string;
  try {
    wire = csrWireForm(csr.wire);
  } catch (error) {
    throw invalid("csr.wire must be the CSR as base64 DER (createCsr().wire) or PEM.", error);
  }
  const verdict = await checkCsrFor(wire, {
    commonName: registrationId,
    commonNameRole: "registration id",
    publicKey: csr.publicKey,
  });
  if (!verdict.valid) throw invalid(verdict.problem, verdict.cause);
  return wire;
}
