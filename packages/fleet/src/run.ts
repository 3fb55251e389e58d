import { setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import { redactSasToken, symmetricKeyAttestation, validateRegistrationId } from "@skittlesorter/attestation";
import type { Logger } from "@skittlesorter/core";
import { createCsr, generateKeyPair, privateKeyToPem } from "@skittlesorter/csr";
import { type DpsTransport, isDpsError, type ProvisionCsr, provision } from "@skittlesorter/dps-mqtt";
import { azureIotDeviceConnector, type HubConnection, type HubCredentials } from "@skittlesorter/hub-client";
import { FleetError } from "./errors.ts";
import type { FleetErrorGroup, FleetOptions, FleetPhase, FleetReport, FleetStage } from "./options.ts";
import { percentiles, perSecond, round } from "./stats.ts";

interface ProvisionedDevice {
  deviceId: string;
  assignedHub: string;
  deviceKey: string;
  chainPem?: string;
  keyPem?: string;
}

const COLORS = ["Red", "Green", "Yellow", "Orange", "Purple"] as const;
const ignore = (): void => {};

/** Registration id of device `index` of `devices`: `{prefix}{index}` zero-padded to the widest index. */
export function fleetRegistrationId(prefix: string, index: number, devices: number): string {
  const width = String(Math.max(0, devices - 1)).length;
  return `${prefix}${String(index).padStart(width, "0")}`;
}

function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FleetError(
      "FLEET_INVALID_OPTION",
      name,
      `${name} must be a whole number from ${min} to ${max}, got ${value}`,
    );
  }
}

/**
 * Provisions `devices` devices through DPS (group key, optional CSR), `concurrency` at a time, then, with
 * `telemetry > 0`, connects them to their assigned hub (X.509 with the issued certificate, else SAS with the
 * derived key) in waves of `concurrency` and sends `telemetry` QoS 1 messages from each. Never throws for a
 * device's failure: failures are counted in the report. Rejects with `FLEET_INVALID_OPTION` before starting.
 */
export async function runFleet(options: FleetOptions): Promise<FleetReport> {
  checkCount("devices", options.devices, 1, 1_000_000);
  checkCount("concurrency", options.concurrency, 1, 10_000);
  const telemetryPerDevice = options.telemetry ?? 0;
  checkCount("telemetry", telemetryPerDevice, 0, 1_000_000);
  const prefix = options.prefix ?? "fleet-";
  for (const index of [0, options.devices - 1]) {
    const id = fleetRegistrationId(prefix, index, options.devices);
    try {
      validateRegistrationId(id);
    } catch (error) {
      throw new FleetError(
        "FLEET_INVALID_OPTION",
        "prefix",
        `the prefix "${prefix}" makes invalid registration ids such as "${id}": ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  const transport = options.transport ?? "mqtts";
  // One signal shared by every in-flight device: lift the listener limit on our own copy, not the caller's.
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const signal = controller.signal;
  const forward = (): void => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) forward();
  options.signal?.addEventListener("abort", forward, { once: true });
  try {
    return await fleet(options, { transport, prefix, telemetryPerDevice, signal });
  } finally {
    options.signal?.removeEventListener("abort", forward);
  }
}

async function fleet(
  options: FleetOptions,
  settings: { transport: DpsTransport; prefix: string; telemetryPerDevice: number; signal: AbortSignal },
): Promise<FleetReport> {
  const { transport, prefix, telemetryPerDevice, signal } = settings;
  const errors = new Map<string, FleetErrorGroup>();
  const record = (stage: FleetStage, error: unknown): void => {
    const code = codeOf(error);
    const errorCode = isDpsError(error) ? error.errorCode : undefined;
    const key = `${stage}|${code}|${errorCode ?? ""}`;
    const group = errors.get(key);
    if (group !== undefined) {
      group.count += 1;
      return;
    }
    const message = redactSasToken(error instanceof Error ? error.message : String(error));
    errors.set(key, {
      stage,
      code,
      ...(errorCode === undefined ? {} : { errorCode }),
      count: 1,
      message,
    });
  };

  const startedAt = new Date();
  const runStarted = performance.now();

  // Phase 1: provisioning.
  const latencies: number[] = [];
  const keyGenTimes: number[] = [];
  const csrTimes: number[] = [];
  const provisioned: ProvisionedDevice[] = [];
  let retries = 0;
  let failed = 0;
  let started = 0;
  const retryLogger: Logger = {
    debug: ignore,
    info: ignore,
    warn: (message) => {
      if (message === "dps retrying") retries += 1;
    },
    error: ignore,
  };
  const keepCredentials = telemetryPerDevice > 0;
  const progress = (phase: FleetPhase, done: number, total: number, failures: number): void =>
    options.onProgress?.({ phase, done, total, failed: failures });

  interface Credentials {
    csr: ProvisionCsr | undefined;
    keyPem: string | undefined;
  }
  const makeCredentials = async (registrationId: string): Promise<Credentials> => {
    if (options.csrKeyType === undefined) return { csr: undefined, keyPem: undefined };
    const keyStarted = performance.now();
    const keyPair = await generateKeyPair(options.csrKeyType, { signal });
    const csrStarted = performance.now();
    const request = await createCsr(registrationId, keyPair, { signal });
    const csrDone = performance.now();
    keyGenTimes.push(csrStarted - keyStarted);
    csrTimes.push(csrDone - csrStarted);
    return {
      csr: { wire: request.wire, publicKey: keyPair.publicKey },
      keyPem: keepCredentials ? privateKeyToPem(keyPair.privateKey) : undefined,
    };
  };
  // With pregenerateCsrs, by device index; a failed generation is recorded and the device skipped later.
  const ready = new Map<number, Credentials | "failed">();
  if (options.pregenerateCsrs === true && options.csrKeyType !== undefined) {
    let keygenFailed = 0;
    for (let index = 0; index < options.devices && !signal.aborted; index += 1) {
      try {
        ready.set(index, await makeCredentials(fleetRegistrationId(prefix, index, options.devices)));
      } catch (error) {
        ready.set(index, "failed");
        keygenFailed += 1;
        record("keygen", signal.aborted && error === signal.reason ? abortedError() : error);
      }
      progress("keygen", index + 1, options.devices, keygenFailed);
    }
  }
  const provisionStarted = performance.now();

  const provisionOne = async (index: number): Promise<void> => {
    const registrationId = fleetRegistrationId(prefix, index, options.devices);
    let stage: FleetStage = "keygen";
    const prepared = ready.get(index);
    if (prepared === "failed") {
      failed += 1;
      progress("provision", provisioned.length + failed, options.devices, failed);
      return;
    }
    try {
      const attestation = symmetricKeyAttestation({ registrationId, groupKey: options.groupKey });
      const { csr, keyPem } = prepared ?? (await makeCredentials(registrationId));
      stage = "provision";
      const deviceStarted = performance.now();
      const result = await provision({
        host: options.host,
        port: options.port,
        transport,
        idScope: options.idScope,
        attestation,
        csr,
        ca: options.ca,
        timeoutMs: options.timeoutMs,
        minRetryAfterMs: options.minRetryAfterMs,
        maxRetryAfterMs: options.maxRetryAfterMs,
        logger: retryLogger,
        signal,
      });
      latencies.push(performance.now() - deviceStarted);
      if (keepCredentials) {
        const device: ProvisionedDevice = {
          deviceId: result.deviceId,
          assignedHub: result.assignedHub,
          deviceKey: attestation.deviceKey,
        };
        if (result.issuedCertificateChain !== undefined && keyPem !== undefined) {
          device.chainPem = result.issuedCertificateChain.bundle;
          device.keyPem = keyPem;
        }
        provisioned.push(device);
      } else {
        provisioned.push({ deviceId: result.deviceId, assignedHub: result.assignedHub, deviceKey: "" });
      }
    } catch (error) {
      failed += 1;
      record(stage, signal.aborted && error === signal.reason ? abortedError() : error);
    }
    progress("provision", provisioned.length + failed, options.devices, failed);
  };

  const indices = Array.from({ length: options.devices }, (_, index) => index);
  await pool(indices, options.concurrency, signal, async (index) => {
    started += 1;
    await provisionOne(index);
  });
  const provisionDurationMs = performance.now() - provisionStarted;
  const skipped = options.devices - started;

  // Phase 2: telemetry, in waves of `concurrency` connected devices.
  let telemetry: FleetReport["telemetry"] = null;
  if (telemetryPerDevice > 0) {
    telemetry = await runTelemetry(provisioned, telemetryPerDevice, { ...options, signal }, record, progress);
  }

  const sortedErrors = [...errors.values()].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
  return {
    target: { host: options.host, port: options.port ?? null, idScope: options.idScope, transport },
    devices: options.devices,
    concurrency: options.concurrency,
    prefix,
    csrKeyType: options.csrKeyType ?? null,
    telemetryPerDevice,
    startedAt: startedAt.toISOString(),
    durationMs: round(performance.now() - runStarted),
    provisioning: {
      succeeded: provisioned.length,
      failed,
      skipped,
      durationMs: round(provisionDurationMs),
      perSecond: perSecond(provisioned.length, provisionDurationMs),
      latencyMs: percentiles(latencies),
      keyGenMs: percentiles(keyGenTimes),
      csrMs: percentiles(csrTimes),
      retries,
    },
    telemetry,
    errors: sortedErrors,
    retries,
  };
}

async function runTelemetry(
  devices: readonly ProvisionedDevice[],
  messagesPerDevice: number,
  options: FleetOptions,
  record: (stage: FleetStage, error: unknown) => void,
  progress: (phase: FleetPhase, done: number, total: number, failures: number) => void,
): Promise<NonNullable<FleetReport["telemetry"]>> {
  const { signal } = options;
  const connector =
    options.hubConnector ??
    azureIotDeviceConnector({
      ca: options.ca,
      connectTimeoutMs: options.hubConnectTimeoutMs,
      operationTimeoutMs: options.sendTimeoutMs,
    });
  const attempted = devices.length * messagesPerDevice;
  const connectTimes: number[] = [];
  const ackTimes: number[] = [];
  let connectFailed = 0;
  let connectAttempts = 0;
  let connectDone = 0;
  let acknowledged = 0;
  let failed = 0;
  let sendWindowMs = 0;

  const connect = async (device: ProvisionedDevice): Promise<HubConnection | undefined> => {
    connectAttempts += 1;
    const started = performance.now();
    try {
      const connection = await connector.connect(hubCredentials(device), { signal });
      connectTimes.push(performance.now() - started);
      return connection;
    } catch (error) {
      connectFailed += 1;
      record("connect", error);
      return undefined;
    } finally {
      connectDone += 1;
      progress("connect", connectDone, devices.length, connectFailed);
    }
  };

  const sendAll = async (connection: HubConnection, device: ProvisionedDevice): Promise<void> => {
    for (let seq = 0; seq < messagesPerDevice; seq += 1) {
      if (signal?.aborted) return;
      const started = performance.now();
      try {
        await connection.send(
          {
            body: JSON.stringify({ deviceId: device.deviceId, seq, color: COLORS[seq % COLORS.length] }),
            contentType: "application/json",
            contentEncoding: "utf-8",
            messageId: `${device.deviceId}-${seq}`,
          },
          { signal },
        );
        ackTimes.push(performance.now() - started);
        acknowledged += 1;
      } catch (error) {
        if (signal?.aborted && error === signal.reason) return;
        failed += 1;
        record("telemetry", error);
      }
      progress("telemetry", acknowledged + failed, attempted, failed);
    }
  };

  for (let start = 0; start < devices.length && signal?.aborted !== true; start += options.concurrency) {
    const wave = devices.slice(start, start + options.concurrency);
    const connections = await Promise.all(wave.map(connect));
    const sendStarted = performance.now();
    await Promise.all(
      connections.map((connection, index) =>
        connection === undefined ? Promise.resolve() : sendAll(connection, wave[index] as ProvisionedDevice),
      ),
    );
    sendWindowMs += performance.now() - sendStarted;
    await Promise.all(connections.map((connection) => connection?.close()));
  }

  return {
    devices: connectAttempts,
    connected: connectAttempts - connectFailed,
    connectFailed,
    connectMs: percentiles(connectTimes),
    attempted,
    acknowledged,
    failed,
    notSent: attempted - acknowledged - failed,
    durationMs: round(sendWindowMs),
    perSecond: perSecond(acknowledged, sendWindowMs),
    ackLatencyMs: percentiles(ackTimes),
  };
}

/** Runs `work` over `items`, at most `concurrency` at a time; stops taking new items once `signal` aborts. */
async function pool<T>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal | undefined,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const runner = async (): Promise<void> => {
    while (next < items.length && signal?.aborted !== true) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, runner));
}

/** X.509 with the issued chain when the device sent a CSR, else SAS with its derived key. */
function hubCredentials(device: ProvisionedDevice): HubCredentials {
  const { deviceId, assignedHub: hostName } = device;
  return device.chainPem !== undefined && device.keyPem !== undefined
    ? { type: "x509", hostName, deviceId, certificatePem: device.chainPem, privateKeyPem: device.keyPem }
    : { type: "sas", hostName, deviceId, sharedAccessKey: device.deviceKey };
}

/** `code` of our errors (`DPS_…`, `HUB_…`, `CSR_…`) and Node's system errors, else the error's class name. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code !== "") return code;
  if (error instanceof Error && error.name !== "") return error.name;
  return "UNEXPECTED";
}

function abortedError(): Error {
  const error = new Error("the fleet run was interrupted before this device finished");
  error.name = "AbortError";
  return error;
}
