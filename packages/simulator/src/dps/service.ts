import { randomBytes, randomUUID } from "node:crypto";
import type { Clock, Logger } from "@skittlesorter/core";
import type { CsrInfo } from "@skittlesorter/csr";
import { azureTimestamp } from "../azure-time.ts";
import type { Enrollment, HubDevice, LinkedHub, Operation, Registration, Settings } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import type { KeyVault } from "../state/vault.ts";
import { type Attested, attest, type Credentials } from "./attest.ts";
import { hubDeviceFor, type PolicyIssuance, recordIssuance, signFromPolicy } from "./issuance.ts";
import { MinuteWindow } from "./minute-window.ts";
import { place, type TwinAction } from "./placement.ts";
import {
  API_VERSIONS,
  DpsErrorCode,
  DpsFailure,
  type DpsOperationRequest,
  errorBody,
  MINUTE_MS,
  parseRequestTopic,
  throttled,
} from "./protocol.ts";
import { attestationSection, nextRegistration } from "./registration-record.ts";
import { parseRegisterBody, parseRegisterCsr } from "./request.ts";
import { applyTwinAction } from "./twins.ts";

/** One device connection, as the DPS front end saw it. */
export interface DeviceSession extends Credentials {
  apiVersion: string | undefined;
  /** A problem found at connect time, answered to every request (e.g. a wrong ID scope). */
  problem?: DpsFailure;
  /** Set once attestation succeeded on this connection. */
  attested?: boolean;
  /** The peer's IP address, which failed authentications are counted against. */
  remoteAddress?: string;
}

/** An answer to publish on `$dps/registrations/res/{status}/?$rid={rid}[&retry-after=…]`. */
export interface DpsAnswer {
  rid: string;
  status: number;
  body: Record<string, unknown>;
  retryAfterSeconds?: number;
}

export interface DpsServiceOptions {
  store: Store;
  idScope: string;
  adrNamespace: string;
  keys: KeyVault;
  settings: () => Settings;
  clock: Clock;
  logger: Logger;
  /** Largest request body accepted, in bytes. */
  maxRequestBytes: number;
  /** How long the custom allocation webhook may take (default 10 s); beyond it the registration fails. */
  customAllocationTimeoutMs?: number;
  /** Called after a device is assigned (e.g. to create or update its ADR device record). */
  onAssigned?: (assigned: {
    registrationId: string;
    deviceId: string;
    hub: LinkedHub;
    enrollment: Enrollment;
  }) => void;
}

const OPERATION_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The rows one registration stores, written together before it is answered. */
type Writes = (() => void)[];

/** The DPS registration engine: attestation, enrollment, allocation, certificate issuance, operations. */
export class DpsService {
  readonly #options: DpsServiceOptions;
  /** Authenticated register requests in the last minute, for the optional quota. */
  readonly #recent = new MinuteWindow();
  /** When operations past their retention were last deleted (epoch ms); once a minute is often enough. */
  #prunedAt = Number.NEGATIVE_INFINITY;
  /** Failed authentications in the last minute (epoch ms) per remote address, limited apart from the quota. */
  #failures = new Map<string, number[]>();

  constructor(options: DpsServiceOptions) {
    this.#options = options;
  }

  get idScope(): string {
    return this.#options.idScope;
  }

  /** Handles one request publish; undefined when it carries no `$rid` to answer on. Never throws. */
  async handle(session: DeviceSession, topic: string, payload: Buffer): Promise<DpsAnswer | undefined> {
    const request = parseRequestTopic(topic);
    if (request.rid === undefined) {
      this.#options.logger.warn("DPS request without $rid ignored", { topic: topic.slice(0, 200) });
      return undefined;
    }
    if (request.kind === "unknown") {
      const unknown = new DpsFailure(
        404,
        DpsErrorCode.unknownOperation,
        `Unknown operation on topic "${topic.slice(0, 200)}": publish to $dps/registrations/PUT/iotdps-register/?$rid={rid} ` +
          "or $dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={operationId}.",
      );
      return { rid: request.rid, ...this.#failed(session, unknown) };
    }
    return this.answer(session, request, payload);
  }

  /** Answers a register or operation-status request, whichever transport carried it (MQTT, HTTPS). Never throws. */
  async answer(session: DeviceSession, request: DpsOperationRequest, payload: Buffer): Promise<DpsAnswer> {
    const { rid } = request;
    try {
      if (payload.length > this.#options.maxRequestBytes) {
        throw new DpsFailure(
          413,
          DpsErrorCode.payloadTooLarge,
          `The request body is ${payload.length} bytes; the limit is ${this.#options.maxRequestBytes} bytes.`,
        );
      }
      if (session.problem !== undefined) throw session.problem;
      if (session.apiVersion === undefined || !API_VERSIONS.includes(session.apiVersion)) {
        throw new DpsFailure(
          400,
          DpsErrorCode.unsupportedApiVersion,
          `Unsupported api-version ${JSON.stringify(session.apiVersion ?? null)}; use one of ${API_VERSIONS.join(", ")} ` +
            "(MQTT: {idScope}/registrations/{registrationId}/api-version=… as user name; HTTPS: ?api-version=…).",
        );
      }
      const answer =
        request.kind === "register"
          ? await this.#register(session, payload)
          : this.#status(session, request.operationId);
      return { rid, ...answer };
    } catch (error) {
      return { rid, ...this.#failed(session, error) };
    }
  }

  /** The error answer: Azure's short message on the wire; the explanation in the log, the events and `info`. */
  #failed(session: DeviceSession, error: unknown): Omit<DpsAnswer, "rid"> {
    const failure =
      error instanceof DpsFailure
        ? error
        : new DpsFailure(500, DpsErrorCode.internal, "Internal error in the simulator; see its log.");
    const { registrationId } = session;
    if (!(error instanceof DpsFailure)) {
      this.#options.logger.error("DPS request failed", { registrationId, error: (error as Error)?.message });
    } else {
      this.#options.logger.info("DPS request refused", {
        registrationId,
        status: failure.status,
        errorCode: failure.errorCode,
        explanation: failure.message,
      });
      if (failure.status === 401) {
        this.#event("registration.rejected", registrationId, {
          status: failure.status,
          errorCode: failure.errorCode,
          message: failure.message,
        });
      }
    }
    const body = errorBody(failure, this.#options.clock.now());
    const answer: Omit<DpsAnswer, "rid"> = { status: failure.status, body };
    if (failure.retryAfterSeconds !== undefined) answer.retryAfterSeconds = failure.retryAfterSeconds;
    return answer;
  }

  /** Counts an authenticated register request against the quota; throws 429 beyond it. */
  #throttle(): void {
    const limit = this.#options.settings().registrationsPerMinute;
    const now = this.#options.clock.now();
    const recent = this.#recent.count(now);
    if (limit > 0 && recent >= limit) {
      throw throttled(
        `Too many registrations: the quota is ${limit} per minute`,
        this.#recent.oldest() ?? now,
        now,
      );
    }
    this.#recent.add(now);
  }

  /**
   * Authenticates the session. A failure counts against its remote address, never against the registration
   * quota: beyond `registrationsPerMinute` failures a minute, that address's failures are answered 429 (and not
   * recorded one by one). Requests that authenticate are never refused for others' failures, so a peer sending
   * forged credentials cannot lock other devices out.
   */
  #attest(session: DeviceSession): Attested {
    let attested: Attested;
    try {
      attested = attest(session, this.#options.store, this.#options.clock);
    } catch (error) {
      if (error instanceof DpsFailure && error.status === 401) this.#limitFailures(session);
      throw error;
    }
    session.attested = true;
    return attested;
  }

  #limitFailures(session: DeviceSession): void {
    const limit = this.#options.settings().registrationsPerMinute;
    const now = this.#options.clock.now();
    for (const [address, times] of this.#failures) {
      const recent = times.filter((at) => at > now - MINUTE_MS);
      if (recent.length === 0) this.#failures.delete(address);
      else this.#failures.set(address, recent);
    }
    if (limit === 0) return;
    const address = session.remoteAddress ?? "unknown";
    const failures = this.#failures.get(address) ?? [];
    if (failures.length >= limit) {
      if (failures.length === limit) {
        this.#options.logger.warn("DPS failed authentications throttled for this address", {
          remoteAddress: address,
          limitPerMinute: limit,
        });
      }
      failures.push(now);
      throw throttled(
        `Too many failed authentications from ${address}: at most ${limit} per minute are answered; check the ` +
          "device's credentials",
        failures[0] ?? now,
        now,
      );
    }
    failures.push(now);
    this.#failures.set(address, failures);
  }

  async #register(session: DeviceSession, payload: Buffer): Promise<Omit<DpsAnswer, "rid">> {
    const attested = this.#attest(session);
    this.#throttle();
    const body = parseRegisterBody(session, payload);
    const { store, clock } = this.#options;
    const settings = this.#options.settings();
    const csr =
      body.csr === undefined ? undefined : await parseRegisterCsr(body.csr, session.registrationId, settings);

    const now = clock.now();
    const operationId = `${(randomBytes(1)[0] ?? 0) % 10}.${randomBytes(8).toString("hex")}.${randomUUID()}`;
    const writes: Writes = [];
    const final = await this.#assign(session, attested, csr, { operationId, writes }, body.payload);
    const operation: Operation = {
      operationId,
      registrationId: session.registrationId,
      createdAt: now,
      readyAt: now + settings.assignmentDelayMs,
      status: 200,
      response: final,
    };
    // Everything the registration stores, in one transaction, committed before the answer goes out.
    store.transaction(() => {
      if (now - this.#prunedAt >= MINUTE_MS) {
        store.pruneOperations(now - OPERATION_RETENTION_MS);
        this.#prunedAt = now;
      }
      for (const write of writes) write();
      store.putOperation(operation);
    });
    return {
      status: 202,
      body: { operationId, status: "assigning" },
      retryAfterSeconds: retryAfter(settings.assignmentDelayMs),
    };
  }

  #status(session: DeviceSession, operationId: string | undefined): Omit<DpsAnswer, "rid"> {
    if (operationId === undefined) {
      throw new DpsFailure(
        400,
        DpsErrorCode.deserialization,
        "The operation status request has no operationId; publish to " +
          "$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={operationId from the register answer}.",
      );
    }
    if (session.attested !== true) this.#attest(session);
    const operation = this.#options.store.getOperation(operationId);
    if (operation === undefined || operation.registrationId !== session.registrationId) {
      throw new DpsFailure(
        404,
        DpsErrorCode.operationNotFound,
        `Operation "${operationId.slice(0, 200)}" of registration "${session.registrationId}" not found (it may have expired); register again.`,
      );
    }
    const remaining = operation.readyAt - this.#options.clock.now();
    if (remaining > 0) {
      return {
        status: 202,
        body: {
          operationId,
          status: "assigning",
          registrationState: { registrationId: session.registrationId, status: "assigning" },
        },
        retryAfterSeconds: retryAfter(remaining),
      };
    }
    return { status: operation.status, body: operation.response };
  }

  async #assign(
    session: DeviceSession,
    attested: Attested,
    csr: CsrInfo | undefined,
    { operationId, writes }: { operationId: string; writes: Writes },
    requestPayload: unknown,
  ): Promise<Record<string, unknown>> {
    const { store, clock } = this.#options;
    const { enrollment } = attested;
    const registrationId = session.registrationId;
    const nowIso = azureTimestamp(clock.now());
    const previous = store.getRegistration(registrationId);
    const deviceId =
      enrollment.kind === "individual" ? (enrollment.deviceId ?? registrationId) : registrationId;
    const registration = nextRegistration(previous, registrationId, attested, nowIso);
    const fail = (status: "failed" | "disabled", errorCode: number, message: string) =>
      this.#fail(registration, attested, { operationId, writes }, { status, errorCode, message });

    if (!enrollment.enabled) {
      return fail(
        "disabled",
        DpsErrorCode.unauthorized,
        `The ${enrollment.kind === "group" ? "enrollment group" : "individual enrollment"} "${enrollment.id}" is disabled; ` +
          "enable it to let this device register.",
      );
    }
    const placement = await place({
      enrollment,
      hubs: store.listHubs(),
      registrationId,
      previous,
      attested,
      requestPayload,
      webhook: { timeoutMs: this.#options.customAllocationTimeoutMs ?? 10_000 },
    });
    if (!("hub" in placement)) return fail("failed", placement.errorCode, placement.message);
    const { hub, substatus } = placement;

    const issued = await this.#issueFor(csr, enrollment, { registrationId, deviceId, writes });
    if (typeof issued === "string") return fail("failed", 404300, issued);

    registration.status = "assigned";
    registration.substatus = substatus;
    registration.hub = hub.name;
    registration.deviceId = deviceId;
    registration.registrationCount = (previous?.registrationCount ?? 0) + 1;
    if (!registration.hubHistory.includes(hub.name))
      registration.hubHistory = [...registration.hubHistory, hub.name];
    if (issued !== undefined) registration.issuedCertificateSerial = issued.serialNumber;
    if (placement.payload !== undefined) registration.payload = placement.payload;
    const device = hubDeviceFor(
      store.getDevice(hub.name, deviceId),
      hub,
      deviceId,
      registrationId,
      attested,
      issued?.sha256Thumbprint,
      nowIso,
    );
    writes.push(() =>
      this.#commit(previous, device, registration, { hub, enrollment, twin: placement.twin }),
    );
    const assignedEvent = {
      enrollment: enrollment.id,
      enrollmentKind: enrollment.kind,
      attestation: attested.type,
      hub: hub.name,
      deviceId,
      substatus,
      issuedCertificateSerial: issued?.serialNumber,
      payloadReceived: requestPayload !== undefined,
    };
    writes.push(() => this.#event("registration.assigned", registrationId, assignedEvent));
    this.#options.logger.info("registration assigned", {
      registrationId,
      hub: hub.name,
      substatus,
      certificateIssued: issued !== undefined,
    });
    const state: Record<string, unknown> = {
      ...attestationSection(attested),
      registrationId,
      createdDateTimeUtc: registration.createdDateTimeUtc,
      assignedHub: hub.hostname,
      deviceId,
      status: "assigned",
      substatus,
      lastUpdatedDateTimeUtc: nowIso,
      etag: registration.etag,
    };
    if (issued !== undefined) state.issuedCertificateChain = issued.chain;
    if (placement.payload !== undefined) state.payload = placement.payload;
    return { operationId, status: "assigned", registrationState: state };
  }

  /** Records a failed or disabled registration; answers its operation status. */
  #fail(
    registration: Registration,
    attested: Attested,
    { operationId, writes }: { operationId: string; writes: Writes },
    failure: { status: "failed" | "disabled"; errorCode: number; message: string },
  ): Record<string, unknown> {
    const { status, errorCode, message } = failure;
    const { registrationId } = registration;
    const enrollment = attested.enrollment.id;
    registration.status = status;
    registration.errorCode = errorCode;
    registration.errorMessage = message;
    writes.push(() => {
      this.#options.store.putRegistration(registration);
      this.#event(`registration.${status}`, registrationId, { enrollment, message });
    });
    this.#options.logger.info(`registration ${status}`, { registrationId, enrollment });
    return {
      operationId,
      status,
      registrationState: {
        ...attestationSection(attested),
        registrationId,
        createdDateTimeUtc: registration.createdDateTimeUtc,
        status,
        errorCode,
        errorMessage: message,
        lastUpdatedDateTimeUtc: registration.lastUpdatedDateTimeUtc,
        etag: registration.etag,
      },
    };
  }

  /**
   * Issues the operational certificate for a CSR from the enrollment's credential policy; undefined without a CSR
   * (or a policy: the CSR is then ignored, as DPS does), an error message when the policy is gone.
   */
  async #issueFor(
    csr: CsrInfo | undefined,
    enrollment: Enrollment,
    { registrationId, deviceId, writes }: { registrationId: string; deviceId: string; writes: Writes },
  ): Promise<PolicyIssuance | string | undefined> {
    if (csr === undefined) return undefined;
    if (enrollment.credentialPolicy === undefined) {
      const details = { enrollment: enrollment.id, reason: "the enrollment has no credential policy" };
      writes.push(() => this.#event("registration.csrIgnored", registrationId, details));
      return undefined;
    }
    const policy = this.#options.store.getPolicy(this.#options.adrNamespace, enrollment.credentialPolicy);
    if (policy === undefined) {
      return (
        `The credential policy "${enrollment.credentialPolicy}" of enrollment "${enrollment.id}" does not exist in ADR namespace ` +
        `"${this.#options.adrNamespace}"; create it or change the enrollment.`
      );
    }
    const issuance = await signFromPolicy(this.#options, policy, csr, registrationId, deviceId);
    writes.push(() => recordIssuance(this.#options.store, issuance));
    return issuance;
  }

  /** Stores the device and registration (moving the device off its previous hub), then tells ADR; in a transaction. */
  #commit(
    previous: Registration | undefined,
    device: HubDevice,
    registration: Registration,
    assigned: { hub: LinkedHub; enrollment: Enrollment; twin: TwinAction },
  ): void {
    const { store } = this.#options;
    const from =
      previous?.hub !== undefined && previous.deviceId !== undefined
        ? { hub: previous.hub, deviceId: previous.deviceId }
        : undefined;
    if (from !== undefined && from.hub !== device.hub) store.deleteDevice(from.hub, from.deviceId);
    store.putDevice(device);
    store.putRegistration(registration);
    applyTwinAction(store, assigned.twin, device, from, registration.lastUpdatedDateTimeUtc);
    try {
      const { registrationId } = registration;
      const { hub, enrollment } = assigned;
      // Its own savepoint: a failing hook leaves the registration stored and none of its own writes.
      store.transaction(() =>
        this.#options.onAssigned?.({ registrationId, deviceId: device.deviceId, hub, enrollment }),
      );
    } catch (error) {
      this.#options.logger.error("after-assignment hook failed", {
        registrationId: registration.registrationId,
        error: (error as Error).message,
      });
    }
  }

  #event(kind: string, subject: string, details: Record<string, unknown>): void {
    const clean = Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined));
    this.#options.store.addEvent(azureTimestamp(this.#options.clock.now()), kind, subject, clean);
  }
}

function retryAfter(remainingMs: number): number {
  return Math.max(1, Math.ceil(remainingMs / 1000));
}
