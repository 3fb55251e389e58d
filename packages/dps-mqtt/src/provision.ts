import type { KeyObject } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import { type Attestation, mqttCredentials } from "@skittlesorter/attestation";
import {
  type Clock,
  checkDurationMs,
  delay,
  type Logger,
  linkSignals,
  noopLogger,
  type OperationOptions,
  packageUserAgent,
  resolveMqttEndpoint,
  systemClock,
} from "@skittlesorter/core";
import { checkCsrFor, type IssuedCertificateChain } from "@skittlesorter/csr";
import { type IClientOptions, connect as mqttConnect } from "mqtt";
import { DpsError, errorFromAnswer } from "./errors.ts";
import { checkIssuedChain } from "./issued-chain.ts";
import {
  backoffDelayMs,
  csrWireForm,
  DPS_API_VERSION,
  DPS_CSR_API_VERSION,
  DPS_WEBSOCKET_PATH,
  defaultPollDelayMs,
  dpsUsername,
  isTransientStatus,
  type OperationStatus,
  parseErrorDetails,
  parseOperationStatus,
  pollTopic,
  type RegistrationStatus,
  registerRequestBody,
  registerTopic,
  retryAfterDelayMs,
} from "./protocol.ts";
import { type DpsAnswer, DpsSession, type MqttConnect, TransientConnectionError } from "./session.ts";

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

/** A successful (`assigned`) registration. */
export interface RegistrationResult {
  operationId?: string;
  registrationId: string;
  deviceId: string;
  assignedHub: string;
  status: "assigned";
  substatus?: string;
  createdDateTimeUtc?: string;
  lastUpdatedDateTimeUtc?: string;
  etag?: string;
  /** Data returned by a custom allocation policy. */
  payload?: unknown;
  /** The certificate chain issued for the CSR, checked against it; leaf first. */
  issuedCertificateChain?: IssuedCertificateChain;
}

interface Settings {
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

/**
 * Registers the device with DPS over MQTT and resolves when it is assigned. With `csr`, DPS issues an
 * operational certificate chain, which is checked against the CSR before it is returned.
 *
 * Rejects with a {@link DpsError}, or with `signal.reason` when aborted.
 */
export async function provision(options: ProvisionOptions): Promise<RegistrationResult> {
  options.signal?.throwIfAborted();
  const settings = await resolveSettings(options);
  const { clock, logger } = settings;

  const deadline = new AbortController();
  const timeoutReason = new Error("deadline");
  const deadlineHandle = clock.setTimeout(() => deadline.abort(timeoutReason), settings.timeoutMs);
  const linked = linkSignals([options.signal, deadline.signal]);
  const signal = linked.signal;
  const started = clock.now();

  let session: DpsSession | undefined;
  let operationId: string | undefined;
  let attempt = 0;
  let lastProblem: Error | undefined;
  let requests = 0;

  logger.debug("dps provisioning", {
    host: settings.host,
    port: settings.port,
    transport: settings.transport,
    registrationId: settings.registrationId,
    apiVersion: settings.apiVersion,
    attestation: settings.attestation.kind,
    csr: settings.csrWire !== undefined,
    timeoutMs: settings.timeoutMs,
  });

  const retryAfterTransient = async (problem: Error, retryAfterSeconds?: number): Promise<void> => {
    lastProblem = problem;
    const waitMs =
      retryAfterSeconds === undefined
        ? backoffDelayMs(attempt, settings, settings.random)
        : retryAfterDelayMs(retryAfterSeconds, settings);
    attempt += 1;
    logger.warn("dps retrying", { problem: problem.message, attempt, delayMs: waitMs });
    await delay(waitMs, { signal, clock });
  };

  try {
    for (;;) {
      if (session === undefined || session.lost) {
        if (session !== undefined) {
          await session.close();
          session = undefined;
        }
        try {
          session = await DpsSession.open({
            connect: settings.connect,
            clientOptions: clientOptionsFor(settings),
            connectTimeoutMs: settings.connectTimeoutMs,
            logger,
            clock,
            signal,
          });
        } catch (error) {
          if (error instanceof TransientConnectionError) {
            await retryAfterTransient(error);
            continue;
          }
          throw error;
        }
      }

      let answer: DpsAnswer;
      const requestStarted = clock.now();
      const kind = operationId === undefined ? "register" : "poll";
      try {
        requests += 1;
        answer =
          operationId === undefined
            ? await session.request(
                registerTopic,
                registerRequestBody({
                  registrationId: settings.registrationId,
                  payload: settings.payload,
                  csr: settings.csrWire,
                }),
                { signal, timeoutMs: settings.requestTimeoutMs },
              )
            : await session.request((rid) => pollTopic(rid, operationId as string), " ", {
                signal,
                timeoutMs: settings.requestTimeoutMs,
              });
      } catch (error) {
        if (error instanceof TransientConnectionError) {
          logger.warn("dps request interrupted; reconnecting", {
            kind,
            problem: error.message,
            resume: operationId === undefined ? "register" : "poll",
          });
          await session.close();
          await retryAfterTransient(error);
          continue;
        }
        throw error;
      }

      logger.debug("dps answer", {
        kind,
        topic: answer.topic,
        statusCode: answer.statusCode,
        retryAfterSeconds: answer.retryAfterSeconds,
        elapsedMs: clock.now() - requestStarted,
      });

      if (isTransientStatus(answer.statusCode)) {
        const details = parseErrorDetails(answer.body);
        const problem = new DpsError(
          "DPS_REQUEST_REJECTED",
          `DPS answered ${answer.statusCode}${details.errorCode === undefined ? "" : ` (errorCode ${details.errorCode})`}${details.message === undefined ? "" : `: ${details.message}`}`,
          {
            statusCode: answer.statusCode,
            errorCode: details.errorCode,
            trackingId: details.trackingId,
            operationId,
          },
        );
        await retryAfterTransient(problem, answer.retryAfterSeconds);
        continue;
      }
      if (answer.statusCode >= 300) {
        throw errorFromAnswer(answer.statusCode, parseErrorDetails(answer.body), {
          operationId,
          registrationId: settings.registrationId,
        });
      }

      const status = parseOperationStatus(answer.body);
      if (typeof status === "string") {
        throw new DpsError(
          "DPS_PROTOCOL_ERROR",
          `DPS answered ${answer.statusCode} with a body this client cannot read: ${status}.`,
          { statusCode: answer.statusCode, operationId },
        );
      }
      attempt = 0;
      if (status.operationId !== undefined) operationId = status.operationId;
      logger.debug("dps status", { status: status.status, operationId, requests });

      switch (status.status) {
        case "assigned": {
          const result = buildResult(status, answer.statusCode, operationId, settings);
          logger.info("dps assigned", {
            deviceId: result.deviceId,
            assignedHub: result.assignedHub,
            certificates: result.issuedCertificateChain?.pems.length ?? 0,
            elapsedMs: clock.now() - started,
            requests,
          });
          return result;
        }
        case "failed":
        case "disabled":
          throw registrationEnded(status, answer.statusCode, operationId, settings.registrationId);
        default: {
          if (operationId === undefined) {
            throw new DpsError(
              "DPS_PROTOCOL_ERROR",
              `DPS answered ${answer.statusCode} with status "${status.status}" but no operationId to poll.`,
              { statusCode: answer.statusCode },
            );
          }
          const waitMs =
            answer.retryAfterSeconds === undefined
              ? defaultPollDelayMs(settings.pollIntervalMs, settings.random)
              : retryAfterDelayMs(answer.retryAfterSeconds, settings);
          logger.debug("dps waiting before poll", { delayMs: waitMs, operationId });
          await delay(waitMs, { signal, clock });
        }
      }
    }
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (deadline.signal.aborted && error === timeoutReason) {
      const elapsed = clock.now() - started;
      throw new DpsError(
        "DPS_TIMEOUT",
        `DPS provisioning of "${settings.registrationId}" did not complete within ${settings.timeoutMs} ms (${elapsed} ms elapsed, ${requests} requests${lastProblem === undefined ? "" : `; last problem: ${lastProblem.message}`}). Raise timeoutMs (CLI: --timeout-seconds) or check connectivity to ${settings.host}:${settings.port}.`,
        {
          cause: lastProblem,
          operationId,
          ...(lastProblem instanceof DpsError ? { statusCode: lastProblem.statusCode } : {}),
        },
      );
    }
    throw error;
  } finally {
    clock.clearTimeout(deadlineHandle);
    linked.dispose();
    await session?.close();
  }
}

function buildResult(
  status: OperationStatus,
  statusCode: number,
  operationId: string | undefined,
  settings: Settings,
): RegistrationResult {
  const state = status.registrationState;
  if (state?.deviceId === undefined || state.assignedHub === undefined) {
    throw new DpsError(
      "DPS_PROTOCOL_ERROR",
      `DPS reported "assigned" without ${state?.deviceId === undefined ? "deviceId" : "assignedHub"} in registrationState.`,
      { statusCode, operationId },
    );
  }
  const result: RegistrationResult = {
    registrationId: state.registrationId ?? settings.registrationId,
    deviceId: state.deviceId,
    assignedHub: state.assignedHub,
    status: "assigned",
  };
  if (operationId !== undefined) result.operationId = operationId;
  if (state.substatus !== undefined) result.substatus = state.substatus;
  if (state.createdDateTimeUtc !== undefined) result.createdDateTimeUtc = state.createdDateTimeUtc;
  if (state.lastUpdatedDateTimeUtc !== undefined)
    result.lastUpdatedDateTimeUtc = state.lastUpdatedDateTimeUtc;
  if (state.etag !== undefined) result.etag = state.etag;
  if (state.payload !== undefined) result.payload = state.payload;
  const chain = state.issuedCertificateChain;
  if (chain !== undefined && chain.length > 0) {
    result.issuedCertificateChain = checkIssuedChain(chain, {
      registrationId: settings.registrationId,
      publicKey: settings.csr?.publicKey,
      clock: settings.clock,
    });
  } else if (settings.csrWire !== undefined) {
    throw new DpsError(
      "DPS_CERTIFICATE_NOT_ISSUED",
      `DPS assigned "${result.deviceId}" to ${result.assignedHub} but returned no issuedCertificateChain for the CSR. Link the enrollment to an ADR credential policy (credentialPolicyName) and provision again.`,
      { statusCode, operationId },
    );
  }
  return result;
}

function registrationEnded(
  status: OperationStatus,
  statusCode: number,
  operationId: string | undefined,
  registrationId: string,
): DpsError {
  const state = status.registrationState;
  const said =
    state?.errorMessage === undefined
      ? ""
      : ` (${state.errorCode === undefined ? "" : `errorCode ${state.errorCode}: `}${state.errorMessage})`;
  const ended: RegistrationStatus = status.status;
  return ended === "disabled"
    ? new DpsError(
        "DPS_REGISTRATION_DISABLED",
        `DPS reports registration "${registrationId}" as disabled${said}. Enable the enrollment (or the device registration record) in DPS and try again.`,
        { statusCode, errorCode: state?.errorCode, operationId, registrationStatus: ended },
      )
    : new DpsError(
        "DPS_REGISTRATION_FAILED",
        `DPS could not assign registration "${registrationId}"${said}. Check the enrollment's allocation policy, linked hubs and credential policy.`,
        { statusCode, errorCode: state?.errorCode, operationId, registrationStatus: ended },
      );
}

function clientOptionsFor(settings: Settings): IClientOptions {
  const credentials = mqttCredentials(settings.attestation, {
    idScope: settings.idScope,
    clock: settings.clock,
    ttlSeconds: settings.sasTtlSeconds,
  });
  const username = dpsUsername(
    settings.idScope,
    settings.registrationId,
    settings.apiVersion,
    settings.userAgent,
  );
  settings.logger.debug("dps connecting", {
    host: settings.host,
    port: settings.port,
    transport: settings.transport,
    username,
    auth: settings.attestation.kind === "x509" ? "x509" : "sas",
  });
  // mqtt.js hands every option to tls.connect, secureContext included (its types leave it out).
  const options: IClientOptions & { secureContext?: SecureContext } = {
    protocol: settings.transport,
    host: settings.host,
    port: settings.port,
    clientId: settings.registrationId,
    username,
    protocolId: "MQTT",
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: settings.connectTimeoutMs,
    keepalive: settings.keepAliveSeconds,
    rejectUnauthorized: true,
    resubscribe: false,
    queueQoSZero: false,
    // mqtt-packet's number cache is 65,536 two-byte Buffers (about 6 MiB of heap), kept for the process's life
    // to save an allocation per packet id: not worth it at a device's message rate.
    writeCache: false,
  };
  if (settings.transport === "wss") options.path = DPS_WEBSOCKET_PATH;
  if (credentials.password !== undefined) options.password = credentials.password;
  if (credentials.cert !== undefined) options.cert = credentials.cert;
  if (credentials.key !== undefined) options.key = credentials.key;
  if (settings.ca !== undefined) {
    options.ca = settings.ca;
    if (options.cert === undefined && options.key === undefined) {
      options.secureContext = trustContext(settings.ca);
    }
  }
  return options;
}

// One TLS context per trusted-CA text: building it parses every CA certificate, which cost as much as a
// signature on each connection of a fleet that provisions many devices against the same DPS.
const trustContexts = new Map<string, SecureContext>();
const TRUST_CONTEXTS_SIZE = 16;

function trustContext(ca: NonNullable<IClientOptions["ca"]>): SecureContext {
  const key = Array.isArray(ca) ? ca.map((entry) => entry.toString()).join("\n") : ca.toString();
  let context = trustContexts.get(key);
  if (context === undefined) {
    context = createSecureContext({ ca });
    if (trustContexts.size >= TRUST_CONTEXTS_SIZE)
      trustContexts.delete(trustContexts.keys().next().value as string);
    trustContexts.set(key, context);
  }
  return context;
}

async function resolveSettings(options: ProvisionOptions): Promise<Settings> {
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
