import { createSecureContext, type SecureContext } from "node:tls";
import { mqttCredentials } from "@skittlesorter/attestation";
import { delay, linkSignals } from "@skittlesorter/core";
import type { IssuedCertificateChain } from "@skittlesorter/csr";
import type { IClientOptions } from "mqtt";
import { DpsError, errorFromAnswer } from "./errors.ts";
import { checkIssuedChain } from "./issued-chain.ts";
import { type ProvisionOptions, resolveSettings, type Settings } from "./options.ts";
import {
  backoffDelayMs,
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
import { type DpsAnswer, DpsSession, TransientConnectionError } from "./session.ts";

export type { DpsTransport, ProvisionCsr, ProvisionOptions } from "./options.ts";

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
