import { createHash, randomBytes, randomUUID } from "node:crypto";
import { validateRegistrationId } from "@skittlesorter/attestation";
import type { Clock, Logger } from "@skittlesorter/core";
import {
  type CsrInfo,
  certificateFacts,
  certificateToWire,
  issueCertificate,
  parseCsr,
} from "@skittlesorter/csr";
import type {
  AdrPolicy,
  Enrollment,
  HubDevice,
  LinkedHub,
  Operation,
  Registration,
  Settings,
  Substatus,
} from "../state/model.ts";
import type { Store } from "../state/store.ts";
import type { KeyVault } from "../state/vault.ts";
import { type Attested, attest, type Credentials } from "./attest.ts";
import { API_VERSIONS, CSR_API_VERSION, DpsErrorCode, DpsFailure, parseRequestTopic } from "./protocol.ts";

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
  /** Called after a device is assigned (e.g. to create or update its ADR device record). */
  onAssigned?: (assigned: {
    registrationId: string;
    deviceId: string;
    hub: LinkedHub;
    enrollment: Enrollment;
  }) => void;
}

const OPERATION_RETENTION_MS = 24 * 60 * 60 * 1000;
const MINUTE_MS = 60_000;

/** A 429 whose retry-after is when the oldest counted event (epoch ms) leaves the one-minute window. */
function throttled(reason: string, oldest: number, now: number): DpsFailure {
  const retryAfterSeconds = Math.max(1, Math.ceil((oldest + MINUTE_MS - now) / 1000));
  return new DpsFailure(429, DpsErrorCode.throttled, `${reason}; retry after ${retryAfterSeconds} s.`, {
    retryAfterSeconds,
  });
}

export function newEtag(): string {
  return Buffer.from(JSON.stringify(randomUUID())).toString("base64");
}

/** The DPS registration engine: attestation, enrollment, allocation, certificate issuance, operations. */
export class DpsService {
  readonly #options: DpsServiceOptions;
  /** Authenticated register requests in the last minute (epoch ms), for the optional quota. */
  #recent: number[] = [];
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
    const rid = request.rid;
    if (rid === undefined) {
      this.#options.logger.warn("DPS request without $rid ignored", { topic: topic.slice(0, 200) });
      return undefined;
    }
    try {
      if (request.kind === "unknown") {
        throw new DpsFailure(
          404,
          DpsErrorCode.unknownOperation,
          `Unknown operation on topic "${topic.slice(0, 200)}": publish to $dps/registrations/PUT/iotdps-register/?$rid={rid} ` +
            "or $dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={operationId}.",
        );
      }
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
          `Unsupported api-version ${JSON.stringify(session.apiVersion ?? null)} in the MQTT user name; use one of ` +
            `${API_VERSIONS.join(", ")} ({idScope}/registrations/{registrationId}/api-version=…).`,
        );
      }
      const answer =
        request.kind === "register"
          ? await this.#register(session, payload)
          : this.#status(session, request.operationId);
      return { rid, ...answer };
    } catch (error) {
      const failure =
        error instanceof DpsFailure
          ? error
          : new DpsFailure(500, DpsErrorCode.internal, "Internal error in the simulator; see its log.");
      if (!(error instanceof DpsFailure)) {
        this.#options.logger.error("DPS request failed", {
          registrationId: session.registrationId,
          error: (error as Error)?.message,
        });
      } else if (failure.status === 401) {
        this.#event("registration.rejected", session.registrationId, {
          status: failure.status,
          errorCode: failure.errorCode,
          message: failure.message,
        });
      }
      const answer: DpsAnswer = { rid, status: failure.status, body: this.#errorBody(failure) };
      if (failure.retryAfterSeconds !== undefined) answer.retryAfterSeconds = failure.retryAfterSeconds;
      return answer;
    }
  }

  #errorBody(failure: DpsFailure): Record<string, unknown> {
    const body: Record<string, unknown> = {
      errorCode: failure.errorCode,
      trackingId: randomUUID(),
      message: failure.message,
      timestampUtc: new Date(this.#options.clock.now()).toISOString(),
    };
    if (failure.info !== undefined) body.info = failure.info;
    return body;
  }

  /** Counts an authenticated register request against the quota; throws 429 beyond it. */
  #throttle(): void {
    const limit = this.#options.settings().registrationsPerMinute;
    const now = this.#options.clock.now();
    this.#recent = this.#recent.filter((at) => at > now - MINUTE_MS);
    if (limit > 0 && this.#recent.length >= limit) {
      throw throttled(
        `Too many registrations: the quota is ${limit} per minute`,
        this.#recent[0] ?? now,
        now,
      );
    }
    this.#recent.push(now);
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
    const body = this.#parseBody(session, payload);
    const { store, clock } = this.#options;
    const settings = this.#options.settings();
    const csr =
      body.csr === undefined ? undefined : await this.#parseCsr(body.csr, session.registrationId, settings);

    const now = clock.now();
    store.pruneOperations(now - OPERATION_RETENTION_MS);
    const operationId = `${(randomBytes(1)[0] ?? 0) % 10}.${randomBytes(8).toString("hex")}.${randomUUID()}`;
    const final = await this.#assign(session, attested, csr, operationId, body.payload);
    const operation: Operation = {
      operationId,
      registrationId: session.registrationId,
      createdAt: now,
      readyAt: now + settings.assignmentDelayMs,
      status: 200,
      response: final,
    };
    store.putOperation(operation);
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

  #parseBody(session: DeviceSession, payload: Buffer): { csr?: string; payload?: unknown } {
    let parsed: unknown;
    const text = payload.toString("utf8").trim();
    try {
      parsed = text === "" ? {} : JSON.parse(text);
    } catch {
      throw new DpsFailure(
        400,
        DpsErrorCode.deserialization,
        'Deserialization error: the register body is not valid JSON; send {"registrationId": "…", "payload"?: {…}, "csr"?: "…"}.',
      );
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new DpsFailure(
        400,
        DpsErrorCode.deserialization,
        'Deserialization error: the register body must be a JSON object {"registrationId": "…", …}.',
      );
    }
    const record = parsed as Record<string, unknown>;
    if (record.registrationId !== undefined) {
      if (typeof record.registrationId !== "string") {
        throw new DpsFailure(
          400,
          DpsErrorCode.deserialization,
          "Deserialization error: registrationId must be a string.",
        );
      }
      if (record.registrationId.toLowerCase() !== session.registrationId) {
        throw new DpsFailure(
          400,
          DpsErrorCode.registrationIdMismatch,
          `The body's registrationId "${record.registrationId.slice(0, 200)}" differs from the connection's ` +
            `"${session.registrationId}" (MQTT client id and user name); send the same id in both.`,
        );
      }
    }
    const result: { csr?: string; payload?: unknown } = {};
    if (record.payload !== undefined) result.payload = record.payload;
    if (record.csr !== undefined && record.csr !== null) {
      if (session.apiVersion !== CSR_API_VERSION) {
        throw new DpsFailure(
          400,
          DpsErrorCode.deserialization,
          `Deserialization error: "csr" is only accepted with api-version=${CSR_API_VERSION}; the connection uses ` +
            `api-version=${session.apiVersion ?? "(none)"}.`,
        );
      }
      if (typeof record.csr !== "string") {
        throw new DpsFailure(
          400,
          DpsErrorCode.deserialization,
          "Deserialization error: csr must be a string (base64 DER PKCS#10 without PEM armour).",
        );
      }
      result.csr = record.csr;
    }
    return result;
  }

  async #parseCsr(wire: string, registrationId: string, settings: Settings): Promise<CsrInfo> {
    const invalid = (message: string): DpsFailure => new DpsFailure(400, DpsErrorCode.invalidCsr, message);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(wire) || wire.length % 4 !== 0) {
      throw invalid(
        "Invalid CSR: csr must be base64 of a DER PKCS#10 request, without PEM header/footer, spaces or newlines " +
          "(e.g. `openssl req -new -key device.key -subj /CN=<registrationId> -outform DER | base64 -w0`).",
      );
    }
    let info: CsrInfo;
    try {
      info = await parseCsr(Buffer.from(wire, "base64"));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "CSR_UNSUPPORTED_KEY_TYPE") {
        throw invalid(`Invalid CSR: ${(error as Error).message} ${keyTypesAccepted(settings)}`);
      }
      if (code === "CSR_WEAK_SIGNATURE") throw invalid(`Invalid CSR: ${(error as Error).message}`);
      throw invalid(
        `Invalid CSR: it is not a DER PKCS#10 certificate request (${(error as Error).message}).`,
      );
    }
    if (!info.signatureValid) {
      throw invalid(
        "Invalid CSR: its signature does not verify with its own public key; create a new CSR signed by the device key.",
      );
    }
    if (info.commonName === undefined || info.commonName.toLowerCase() !== registrationId) {
      throw invalid(
        `Invalid CSR: its CN is ${info.commonName === undefined ? "missing" : `"${info.commonName}"`} but must be the registration id "${registrationId}".`,
      );
    }
    if (settings.strictCsr && info.keyType !== "ec-p384") {
      throw invalid(`Invalid CSR: its key is ${info.keyType}; ${keyTypesAccepted(settings)}`);
    }
    return info;
  }

  async #assign(
    session: DeviceSession,
    attested: Attested,
    csr: CsrInfo | undefined,
    operationId: string,
    requestPayload: unknown,
  ): Promise<Record<string, unknown>> {
    const { store, clock } = this.#options;
    const { enrollment } = attested;
    const registrationId = session.registrationId;
    const nowIso = new Date(clock.now()).toISOString();
    const previous = store.getRegistration(registrationId);
    const deviceId =
      enrollment.kind === "individual" ? (enrollment.deviceId ?? registrationId) : registrationId;
    const base: Registration = previous ?? {
      registrationId,
      enrollmentKind: enrollment.kind,
      enrollmentId: enrollment.id,
      attestationType: attested.type,
      hubHistory: [],
      status: "unassigned",
      createdDateTimeUtc: nowIso,
      lastUpdatedDateTimeUtc: nowIso,
      etag: newEtag(),
      registrationCount: 0,
    };
    const registration: Registration = {
      ...base,
      enrollmentKind: enrollment.kind,
      enrollmentId: enrollment.id,
      attestationType: attested.type,
      lastUpdatedDateTimeUtc: nowIso,
      etag: newEtag(),
    };
    delete registration.errorCode;
    delete registration.errorMessage;

    const fail = (
      status: "failed" | "disabled",
      errorCode: number,
      message: string,
    ): Record<string, unknown> => {
      registration.status = status;
      registration.errorCode = errorCode;
      registration.errorMessage = message;
      store.putRegistration(registration);
      this.#event(`registration.${status}`, registrationId, { enrollment: enrollment.id, message });
      this.#options.logger.info(`registration ${status}`, { registrationId, enrollment: enrollment.id });
      return {
        operationId,
        status,
        registrationState: {
          ...this.#attestationSection(attested),
          registrationId,
          createdDateTimeUtc: registration.createdDateTimeUtc,
          status,
          errorCode,
          errorMessage: message,
          lastUpdatedDateTimeUtc: nowIso,
          etag: registration.etag,
        },
      };
    };

    if (!enrollment.enabled) {
      return fail(
        "disabled",
        DpsErrorCode.unauthorized,
        `The ${enrollment.kind === "group" ? "enrollment group" : "individual enrollment"} "${enrollment.id}" is disabled; ` +
          "enable it to let this device register.",
      );
    }

    const hubs = store.listHubs();
    const chosen = allocate(enrollment, hubs, registrationId);
    if (typeof chosen === "string") return fail("failed", 400300, chosen);

    let hub = chosen;
    let substatus: Substatus = "initialAssignment";
    const previousHub =
      previous?.status === "assigned" || previous?.status === "disabled" ? previous.hub : undefined;
    if (previousHub !== undefined && previousHub !== chosen.name) {
      const stay = hubs.find((item) => item.name === previousHub);
      if (!enrollment.reprovisionPolicy.updateHubAssignment && stay !== undefined) {
        hub = stay;
        substatus = previous?.substatus ?? "initialAssignment";
      } else if (registration.hubHistory.includes(chosen.name)) {
        substatus = "reprovisionedToInitialAssignment";
      } else {
        substatus = enrollment.reprovisionPolicy.migrateDeviceData ? "deviceDataMigrated" : "deviceDataReset";
      }
    } else if (previousHub !== undefined) {
      substatus = previous?.substatus ?? "initialAssignment";
    }

    let issuedChain: string[] | undefined;
    let issuedSerial: string | undefined;
    let issuedThumbprint: string | undefined;
    if (csr !== undefined && enrollment.credentialPolicy !== undefined) {
      const policy = store.getPolicy(this.#options.adrNamespace, enrollment.credentialPolicy);
      if (policy === undefined) {
        return fail(
          "failed",
          404300,
          `The credential policy "${enrollment.credentialPolicy}" of enrollment "${enrollment.id}" does not exist in ADR namespace ` +
            `"${this.#options.adrNamespace}"; create it or change the enrollment.`,
        );
      }
      const issued = await this.#issue(policy, csr, registrationId, deviceId);
      issuedChain = issued.chain;
      issuedSerial = issued.serialNumber;
      issuedThumbprint = issued.sha256Thumbprint;
    } else if (csr !== undefined) {
      this.#event("registration.csrIgnored", registrationId, {
        enrollment: enrollment.id,
        reason: "the enrollment has no credential policy",
      });
    }

    registration.status = "assigned";
    registration.substatus = substatus;
    registration.hub = hub.name;
    registration.deviceId = deviceId;
    registration.registrationCount = base.registrationCount + 1;
    if (!registration.hubHistory.includes(hub.name))
      registration.hubHistory = [...registration.hubHistory, hub.name];
    if (issuedSerial !== undefined) registration.issuedCertificateSerial = issuedSerial;

    const device = this.#device(hub, deviceId, registrationId, attested, issuedThumbprint, nowIso);
    store.transaction(() => {
      if (previous?.hub !== undefined && previous.hub !== hub.name && previous.deviceId !== undefined) {
        store.deleteDevice(previous.hub, previous.deviceId);
      }
      store.putDevice(device);
      store.putRegistration(registration);
    });
    try {
      this.#options.onAssigned?.({ registrationId, deviceId, hub, enrollment });
    } catch (error) {
      this.#options.logger.error("after-assignment hook failed", {
        registrationId,
        error: (error as Error).message,
      });
    }
    this.#event("registration.assigned", registrationId, {
      enrollment: enrollment.id,
      enrollmentKind: enrollment.kind,
      attestation: attested.type,
      hub: hub.name,
      deviceId,
      substatus,
      issuedCertificateSerial: issuedSerial,
      payloadReceived: requestPayload !== undefined,
    });
    this.#options.logger.info("registration assigned", {
      registrationId,
      hub: hub.name,
      substatus,
      certificateIssued: issuedChain !== undefined,
    });

    const state: Record<string, unknown> = {
      ...this.#attestationSection(attested),
      registrationId,
      createdDateTimeUtc: registration.createdDateTimeUtc,
      assignedHub: hub.hostname,
      deviceId,
      status: "assigned",
      substatus,
      lastUpdatedDateTimeUtc: nowIso,
      etag: registration.etag,
    };
    if (issuedChain !== undefined) state.issuedCertificateChain = issuedChain;
    return { operationId, status: "assigned", registrationState: state };
  }

  #attestationSection(attested: Attested): Record<string, unknown> {
    const groupId = attested.enrollment.kind === "group" ? { enrollmentGroupId: attested.enrollment.id } : {};
    if (attested.type === "symmetricKey") return { symmetricKey: groupId };
    const x509: Record<string, unknown> = { ...groupId };
    if (attested.certificateInfo !== undefined) x509.certificateInfo = attested.certificateInfo;
    if (attested.signingCertificateInfo !== undefined)
      x509.signingCertificateInfo = attested.signingCertificateInfo;
    return { x509 };
  }

  #device(
    hub: LinkedHub,
    deviceId: string,
    registrationId: string,
    attested: Attested,
    issuedThumbprint: string | undefined,
    nowIso: string,
  ): HubDevice {
    const existing = this.#options.store.getDevice(hub.name, deviceId);
    let authentication: HubDevice["authentication"];
    if (
      issuedThumbprint !== undefined ||
      (attested.type === "x509" && attested.enrollment.kind === "group")
    ) {
      authentication = { type: "certificateAuthority" };
    } else if (attested.type === "x509") {
      authentication = {
        type: "selfSigned",
        primaryThumbprint: attested.leafThumbprints?.sha1 ?? "",
      };
    } else {
      authentication = {
        type: "sas",
        primaryKey: attested.deviceKeys?.primaryKey ?? "",
        secondaryKey: attested.deviceKeys?.secondaryKey ?? "",
      };
    }
    const device: HubDevice = {
      hub: hub.name,
      deviceId,
      registrationId,
      status: existing?.status ?? "enabled",
      authentication,
      created: existing?.created ?? nowIso,
      updated: nowIso,
    };
    const thumbprint = issuedThumbprint ?? existing?.issuedCertificateThumbprint;
    if (thumbprint !== undefined) device.issuedCertificateThumbprint = thumbprint;
    return device;
  }

  async #issue(
    policy: AdrPolicy,
    csr: CsrInfo,
    registrationId: string,
    deviceId: string,
  ): Promise<{ chain: string[]; serialNumber: string; sha256Thumbprint: string }> {
    const { store, clock } = this.#options;
    const namespace = store.getMeta<{ rootCaPem: string }>("adrNamespace");
    if (namespace === undefined) throw new Error("ADR namespace missing from the store");
    const privateKey = await this.#options.keys.key(policy.keyFile);
    const leafPem = await issueCertificate({
      publicKey: csr.publicKey,
      commonName: registrationId,
      issuer: { certificatePem: policy.issuingCaPem, privateKey },
      validityDays: policy.validityDays,
      extendedKeyUsage: ["clientAuth"],
      hash: "SHA-384",
      clock,
    });
    const facts = certificateFacts(leafPem);
    store.addIssuedCertificate({
      serialNumber: facts.serialNumber,
      registrationId,
      deviceId,
      policy: policy.name,
      subject: facts.subject,
      sha1Thumbprint: facts.sha1Thumbprint,
      sha256Thumbprint: facts.sha256Thumbprint,
      notBefore: facts.notBefore.toISOString(),
      notAfter: facts.notAfter.toISOString(),
      keyType: csr.keyType,
      certificatePem: facts.pem,
      created: new Date(clock.now()).toISOString(),
    });
    this.#event("certificate.issued", registrationId, {
      serialNumber: facts.serialNumber,
      policy: policy.name,
      keyType: csr.keyType,
      notAfter: facts.notAfter.toISOString(),
    });
    return {
      chain: [leafPem, policy.issuingCaPem, namespace.rootCaPem].map((pem) => certificateToWire(pem)),
      serialNumber: facts.serialNumber,
      sha256Thumbprint: facts.sha256Thumbprint,
    };
  }

  #event(kind: string, subject: string, details: Record<string, unknown>): void {
    const clean = Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined));
    this.#options.store.addEvent(new Date(this.#options.clock.now()).toISOString(), kind, subject, clean);
  }
}

function retryAfter(remainingMs: number): number {
  return Math.max(1, Math.ceil(remainingMs / 1000));
}

function keyTypesAccepted(settings: Settings): string {
  return settings.strictCsr
    ? "this simulator runs with --strict-csr and accepts EC P-384 keys only, as the 2025-07-01-preview documents."
    : "accepted: EC P-384 (recommended), EC P-256, RSA 2048/3072/4096.";
}

/**
 * Picks the hub: `static` → the enrollment's hub; `hashed` → weighted by `allocationWeight` over the
 * candidate hubs, keyed by a hash of the registration id (stable across restarts). Returns an error
 * message when no hub can be chosen.
 */
export function allocate(
  enrollment: Enrollment,
  hubs: readonly LinkedHub[],
  registrationId: string,
): LinkedHub | string {
  if (enrollment.allocationPolicy === "static") {
    const hub = hubs.find((item) => item.name === enrollment.staticHub);
    return (
      hub ??
      `The enrollment "${enrollment.id}" uses static allocation to hub "${enrollment.staticHub ?? "(none)"}", which is not linked to this DPS.`
    );
  }
  const candidates = (
    enrollment.iotHubs === undefined
      ? hubs.filter((hub) => hub.applyAllocationPolicy)
      : hubs.filter((hub) => enrollment.iotHubs?.includes(hub.name))
  ).filter((hub) => hub.allocationWeight > 0);
  if (candidates.length === 0) {
    return `No linked IoT hub can take registrations of enrollment "${enrollment.id}"; link a hub (weight > 0) or fix the enrollment's iotHubs.`;
  }
  const total = candidates.reduce((sum, hub) => sum + hub.allocationWeight, 0);
  const digest = createHash("sha256").update(validateRegistrationId(registrationId)).digest();
  let point = digest.readUInt32BE(0) % total;
  for (const hub of candidates) {
    if (point < hub.allocationWeight) return hub;
    point -= hub.allocationWeight;
  }
  return candidates[candidates.length - 1] as LinkedHub;
}
