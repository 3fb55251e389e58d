// Certificate renewal through the hub (`$iothub/credentials`, ADR certificate management, 2025-08-01-preview): a
// device publishes a CSR on its live connection; the hub answers 202, then 200 with a chain its ADR credential
// policy issued. Answers, codes and messages follow the IoT Hub team's "Issue Certificate API - SDK Reference Guide"
// (test run of 2026-01-30) and the Azure IoT C SDK's retry rules (see /work/shared/reference/azure-protocols.md).
import { randomBytes, randomUUID } from "node:crypto";
import type { Clock, Logger } from "@skittlesorter/core";
import { type CsrInfo, parseCsr } from "@skittlesorter/csr";
import type { AdrService } from "../adr/service.ts";
import { issueFromPolicy } from "../dps/issuance.ts";
import type { AdrPolicy, HubDevice, Settings } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import type { KeyVault } from "../state/vault.ts";
import type { HubSession } from "./auth.ts";
import type { HubLink } from "./service.ts";

/** The only api-version whose connections may use `$iothub/credentials`. */
export const RENEWAL_API_VERSION = "2025-08-01-preview";
export const CREDENTIALS_RESPONSE_FILTER = "$iothub/credentials/res/#";
const REQUEST_TOPIC = /^\$iothub\/credentials\/POST\/issueCertificate\/(?:\?(.*))?$/s;
const REPLACE_FORMAT = /^(\*|[A-Za-z0-9][A-Za-z0-9-]{2,34}[A-Za-z0-9])$/;
const MAX_CSR_CHARS = 8 * 1024;
/** How long an accepted request stays active (Azure's 202 answers say about 12 hours). */
const OPERATION_LIFETIME_MS = 12 * 60 * 60 * 1000;
/** Recent requests kept for the admin API and the dashboard. */
const HISTORY = 200;

/** An injected transient refusal: the next `count` requests (of `deviceId`, or of any device) get `status`. */
export interface RenewalFault {
  status: 429 | 503;
  /** Default: every request of `deviceId` until cleared; without `deviceId`, 1. */
  count?: number | undefined;
  deviceId?: string | undefined;
  /** Sent as `retry-after` on the answer topic; omitted: none (the client then uses the service's backoff). */
  retryAfterSeconds?: number | undefined;
}

export interface RenewalSettings {
  /** Time between the 202 and the final answer. */
  delayMs: number;
  faults: RenewalFault[];
}

/** One `issueCertificate` request as the admin API shows it. */
export interface RenewalRecord {
  requestId: string;
  deviceId: string;
  hub: string;
  state: "pending" | "issued" | "failed" | "refused" | "cancelled";
  requestedAt: string;
  answeredAt?: string;
  /** The final status answered (200, 400, 409, 412, 429, 503…); absent while pending. */
  status?: number;
  errorCode?: number;
  message?: string;
  correlationId?: string;
  operationExpires?: string;
  policy?: string;
  serialNumber?: string;
  notAfter?: string;
  keyType?: string;
}

export interface CertificateRenewalsOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  keys: KeyVault;
  adr: AdrService;
  adrNamespace: string;
  settings(): Settings;
  /** The device's live connection (answers go to whichever one is up when they are sent). */
  link(deviceId: string): HubLink | undefined;
  device(deviceId: string): HubDevice | undefined;
  delayMs?: number | undefined;
  faults?: readonly RenewalFault[] | undefined;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfterSeconds?: number | undefined;
}

interface Pending {
  record: RenewalRecord;
  timer: unknown;
}

/** A refusal before anything is queued: the answer and a short reason for the record. */
class Refusal extends Error {
  readonly answer: Answer;
  constructor(
    status: number,
    errorCode: number,
    message: string,
    info: Record<string, unknown> | null = null,
  ) {
    super(message);
    this.answer = { status, body: { errorCode, message, info } };
  }
}

/** Throws a {@link Refusal} naming the first thing wrong with the request body, as IoT Hub checks it. */
export function checkRequestBody(
  payload: Buffer,
  deviceId: string,
): { csr: string; replace: string | undefined } {
  const text = payload.toString("utf8");
  if (text.trim() === "") {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request payload is missing. Include a JSON payload with 'id' and 'csr' fields.",
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Refusal(400, 400006, "cannot decode json format");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'id' field does not match the authenticated device ID. Use the same device ID used for authentication.",
    );
  }
  const record = body as Record<string, unknown>;
  if (Object.keys(record).some((key) => !["id", "csr", "replace"].includes(key))) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request payload contains an unknown field. Only 'id', 'csr', and 'replace' fields are allowed.",
    );
  }
  if (typeof record.id !== "string" || record.id === "") {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'id' field is invalid or missing. Provide the device ID of the authenticated device.",
    );
  }
  if (record.id !== deviceId) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'id' field does not match the authenticated device ID. Use the same device ID used for authentication.",
    );
  }
  const csr = record.csr;
  if (typeof csr !== "string" || csr === "") {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'csr' field is invalid or missing. Provide a valid base64-encoded certificate signing request.",
    );
  }
  if (csr.length > MAX_CSR_CHARS) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'csr' field exceeds maximum allowed length. Reduce the CSR size.",
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(csr) || csr.length % 4 !== 0) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'csr' field is not valid base64. Ensure the CSR is properly base64-encoded.",
    );
  }
  const replace = record.replace;
  if (replace !== undefined && (typeof replace !== "string" || !REPLACE_FORMAT.test(replace))) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'replace' field has an invalid format. An exact request ID must be between 4 and 36 characters, only have alphanumeric characters and hyphens, and cannot start or end with a hyphen. Use '*' to replace any pending request.",
    );
  }
  return { csr, replace };
}

/**
 * The backend's CSR checks, the same as the DPS CSR path's: DER PKCS#10, a signature that verifies with its own
 * key (proof of possession), CN = device id, an accepted key type. Resolves to the CSR or why it was refused.
 */
export async function checkRenewalCsr(
  wire: string,
  deviceId: string,
  settings: Settings,
): Promise<CsrInfo | string> {
  let info: CsrInfo;
  try {
    info = await parseCsr(Buffer.from(wire, "base64"));
  } catch (error) {
    return `CSR did not pass verification: ${(error as Error).message}`;
  }
  if (!info.signatureValid) {
    return "CSR did not pass verification: its signature does not verify with its own public key";
  }
  if (info.commonName !== deviceId) {
    return `CSR did not pass verification: its CN is ${info.commonName === undefined ? "missing" : `"${info.commonName}"`}, not the device id "${deviceId}"`;
  }
  if (settings.strictCsr && info.keyType !== "ec-p384") {
    return `CSR did not pass verification: its key is ${info.keyType}; this simulator runs with --strict-csr and accepts EC P-384 keys only`;
  }
  return info;
}

/** The hub's `$iothub/credentials` surface: requests, one in flight per device, answers, records, test knobs. */
export class CertificateRenewals {
  readonly #options: CertificateRenewalsOptions;
  readonly #pending = new Map<string, Pending>();
  readonly #history: RenewalRecord[] = [];
  #delayMs: number;
  #faults: RenewalFault[];

  constructor(options: CertificateRenewalsOptions) {
    this.#options = options;
    this.#delayMs = options.delayMs ?? 0;
    this.#faults = (options.faults ?? []).map((fault) => checkFault(fault));
  }

  /** Whether a connection may subscribe to the credentials answers (only with the preview api-version). */
  mayRenew(session: HubSession): boolean {
    return session.apiVersion === RENEWAL_API_VERSION;
  }

  /** Handles a PUBLISH if it is an `issueCertificate` request; false for any other topic. */
  handlePublish(session: HubSession, topic: string, payload: Buffer): boolean {
    const match = REQUEST_TOPIC.exec(topic);
    if (match === null) return false;
    const requestId = new URLSearchParams(match[1] ?? "").get("$rid") ?? "";
    if (requestId === "") {
      // Azure cannot route an answer without $rid, and sends none.
      this.#options.logger.warn("certificate request without $rid ignored", { deviceId: session.deviceId });
      this.#event("hub.certificateRequestIgnored", session.deviceId, { reason: "no $rid on the topic" });
      return true;
    }
    this.#request(session, requestId, payload);
    return true;
  }

  #request(session: HubSession, requestId: string, payload: Buffer): void {
    const { deviceId } = session;
    const record: RenewalRecord = {
      requestId,
      deviceId,
      hub: session.hub,
      state: "pending",
      requestedAt: this.#now(),
    };
    this.#remember(record);
    try {
      const fault = this.#takeFault(deviceId);
      if (fault !== undefined) throw fault;
      const { csr, replace } = checkRequestBody(payload, deviceId);
      this.#replaceOrConflict(deviceId, requestId, replace);
      this.#accept(record, csr);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      this.#finish(record, "refused", error.answer);
    }
  }

  /** Throws the 409 of a device with a request in flight, or the 412 of a `replace` naming none; cancels one. */
  #replaceOrConflict(deviceId: string, requestId: string, replace: string | undefined): void {
    const active = this.#pending.get(deviceId);
    if (replace !== undefined) {
      if (active === undefined || (replace !== "*" && replace !== active.record.requestId)) {
        throw new Refusal(
          412,
          412001,
          "No active certificate request found to replace. Ensure the request ID in the 'replace' property matches an existing pending request.",
          { requestId: replace },
        );
      }
      this.#options.clock.clearTimeout(active.timer);
      this.#pending.delete(deviceId);
      this.#close(active.record, "cancelled", { message: `replaced by request ${requestId}` });
      return;
    }
    if (active !== undefined) {
      throw new Refusal(
        409,
        409004,
        "A credential management operation is already active. Use the requestId in info to check the status of the existing request, or send a new request with 'replace' to cancel and start a new one.",
        {
          requestId: active.record.requestId,
          operationExpires: active.record.operationExpires,
          correlationId: active.record.correlationId,
        },
      );
    }
  }

  /** Answers 202 and schedules the issuance. */
  #accept(record: RenewalRecord, csr: string): void {
    const { clock } = this.#options;
    record.correlationId = randomUUID();
    record.operationExpires = new Date(clock.now() + OPERATION_LIFETIME_MS).toISOString();
    const pending: Pending = { record, timer: undefined };
    this.#pending.set(record.deviceId, pending);
    this.#send(record, {
      status: 202,
      body: { correlationId: record.correlationId, operationExpires: record.operationExpires },
    });
    this.#event("hub.certificateRequested", record.deviceId, {
      requestId: record.requestId,
      correlationId: record.correlationId,
    });
    pending.timer = clock.setTimeout(() => {
      void this.#issue(pending, csr).catch((error: unknown) => {
        this.#options.logger.error("certificate renewal failed inside the simulator", {
          deviceId: record.deviceId,
          error: (error as Error).message,
        });
        this.#complete(pending, "failed", { status: 500, body: serviceFault(500001, "Internal error.") });
      });
    }, this.#delayMs);
  }

  async #issue(pending: Pending, csrWire: string): Promise<void> {
    const { record } = pending;
    const device = this.#options.device(record.deviceId);
    const policy =
      device === undefined
        ? `device "${record.deviceId}" is no longer in the hub's registry`
        : this.#policyOf(record.deviceId);
    const csr =
      typeof policy === "string"
        ? policy
        : await checkRenewalCsr(csrWire, record.deviceId, this.#options.settings());
    if (device === undefined || typeof policy === "string" || typeof csr === "string") {
      this.#complete(pending, "failed", {
        status: 400,
        body: {
          errorCode: 400037,
          message: "Unable to complete the certificate request at this time. See info for details.",
          info: { credentialMessage: typeof csr === "string" ? csr : policy, credentialError: "400000" },
        },
      });
      return;
    }
    if (this.#pending.get(record.deviceId) !== pending) return; // replaced meanwhile
    const issued = await issueFromPolicy(
      { store: this.#options.store, clock: this.#options.clock, keys: this.#options.keys },
      policy,
      csr,
      device.registrationId,
      device.deviceId,
      { commonName: device.deviceId, via: "hub" },
    );
    if (this.#pending.get(record.deviceId) !== pending) return;
    this.#recordIssued(device, issued.serialNumber, issued.sha256Thumbprint);
    const leaf = this.#options.store
      .listIssuedCertificates(device.registrationId)
      .find((certificate) => certificate.serialNumber === issued.serialNumber);
    Object.assign(record, {
      policy: policy.name,
      serialNumber: issued.serialNumber,
      notAfter: leaf?.notAfter,
      keyType: csr.keyType,
    });
    this.#complete(pending, "issued", {
      status: 200,
      body: { correlationId: record.correlationId, certificates: issued.chain },
    });
  }

  /** The device's ADR credential policy, or why there is none. */
  #policyOf(deviceId: string): AdrPolicy | string {
    const resourceId = (
      this.#options.adr.forDeviceId(deviceId)?.properties.policy as { resourceId?: unknown }
    )?.resourceId;
    const name = typeof resourceId === "string" ? resourceId.split("/").pop() : undefined;
    if (name === undefined || name === "") {
      return `device "${deviceId}" has no ADR credential policy: provision it through an enrollment with a credential policy`;
    }
    const policy = this.#options.store.getPolicy(this.#options.adrNamespace, name);
    return policy ?? `the credential policy "${name}" of device "${deviceId}" does not exist any more`;
  }

  /** Like DPS: the hub device and its registration name the newest issued certificate. */
  #recordIssued(device: HubDevice, serialNumber: string, sha256Thumbprint: string): void {
    const { store } = this.#options;
    store.transaction(() => {
      const current = store.getDevice(device.hub, device.deviceId);
      if (current !== undefined) {
        store.putDevice({ ...current, issuedCertificateThumbprint: sha256Thumbprint, updated: this.#now() });
      }
      const registration = store.getRegistration(device.registrationId);
      if (registration !== undefined) {
        store.putRegistration({ ...registration, issuedCertificateSerial: serialNumber });
      }
    });
  }

  #complete(pending: Pending, state: "issued" | "failed", answer: Answer): void {
    if (this.#pending.get(pending.record.deviceId) !== pending) return;
    this.#pending.delete(pending.record.deviceId);
    this.#finish(pending.record, state, answer);
  }

  #finish(record: RenewalRecord, state: RenewalRecord["state"], answer: Answer): void {
    const body = { ...answer.body };
    if (answer.status >= 400) {
      body.trackingId = randomBytes(16).toString("hex").toUpperCase();
      body.timestampUtc = this.#now();
    }
    this.#send(record, { ...answer, body });
    this.#close(record, state, {
      status: answer.status,
      errorCode: typeof body.errorCode === "number" ? body.errorCode : undefined,
      message: typeof body.message === "string" ? body.message : undefined,
    });
  }

  #close(
    record: RenewalRecord,
    state: RenewalRecord["state"],
    outcome: { status?: number | undefined; errorCode?: number | undefined; message?: string | undefined },
  ): void {
    record.state = state;
    record.answeredAt = this.#now();
    for (const [key, value] of Object.entries(outcome)) {
      if (value !== undefined) (record as unknown as Record<string, unknown>)[key] = value;
    }
    const kind =
      state === "issued"
        ? "hub.certificateRenewed"
        : state === "cancelled"
          ? "hub.certificateRequestCancelled"
          : "hub.certificateRequestFailed";
    const { deviceId, hub: _hub, state: _state, requestedAt: _at, answeredAt: _done, ...details } = record;
    this.#event(kind, deviceId, details);
    this.#options.logger.info(`certificate request ${state}`, {
      deviceId,
      requestId: record.requestId,
      status: record.status,
    });
  }

  #send(record: RenewalRecord, answer: Answer): void {
    let topic = `$iothub/credentials/res/${answer.status}/?$rid=${encodeURIComponent(record.requestId)}`;
    if (answer.retryAfterSeconds !== undefined) topic += `&retry-after=${answer.retryAfterSeconds}`;
    const delivered = this.#options
      .link(record.deviceId)
      ?.send("credentials", topic, Buffer.from(JSON.stringify(answer.body)));
    if (delivered !== true) {
      this.#options.logger.debug(
        "certificate answer not delivered: the device is not connected and subscribed",
        {
          deviceId: record.deviceId,
          status: answer.status,
        },
      );
    }
  }

  #takeFault(deviceId: string): Refusal | undefined {
    const index = this.#faults.findIndex(
      (fault) => fault.deviceId === undefined || fault.deviceId === deviceId,
    );
    const fault = this.#faults[index];
    if (fault === undefined) return undefined;
    if (fault.count !== undefined) {
      fault.count -= 1;
      if (fault.count <= 0) this.#faults.splice(index, 1);
    }
    const refusal =
      fault.status === 429
        ? new Refusal(
            429,
            429002,
            "Too many requests: the hub is throttling certificate requests. Retry later.",
          )
        : new Refusal(503, 503001, "The service is unavailable. Retry later.");
    refusal.answer.retryAfterSeconds = fault.retryAfterSeconds;
    return refusal;
  }

  // --- test knobs and the admin view ---------------------------------------------------------------

  settings(): RenewalSettings {
    return { delayMs: this.#delayMs, faults: this.#faults.map((fault) => ({ ...fault })) };
  }

  setDelayMs(delayMs: number): void {
    this.#delayMs = checkDelay(delayMs);
  }

  addFault(fault: RenewalFault): void {
    this.#faults.push(checkFault(fault));
  }

  clearFaults(): void {
    this.#faults = [];
  }

  /** Recent requests, newest first (pending ones included). */
  list(deviceId?: string): RenewalRecord[] {
    return this.#history
      .filter((record) => deviceId === undefined || record.deviceId === deviceId)
      .map((record) => ({ ...record }))
      .reverse();
  }

  /** Stops the pending issuances (the simulator is closing). */
  close(): void {
    for (const pending of this.#pending.values()) this.#options.clock.clearTimeout(pending.timer);
    this.#pending.clear();
  }

  #remember(record: RenewalRecord): void {
    this.#history.push(record);
    if (this.#history.length > HISTORY) this.#history.splice(0, this.#history.length - HISTORY);
  }

  #event(kind: string, subject: string, details: Record<string, unknown>): void {
    const clean = Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined));
    this.#options.store.addEvent(this.#now(), kind, subject, clean);
  }

  #now(): string {
    return new Date(this.#options.clock.now()).toISOString();
  }
}

function serviceFault(errorCode: number, message: string): Record<string, unknown> {
  return { errorCode, message, info: null };
}

/** A checked copy of a fault; throws a TypeError naming what is wrong. */
export function checkFault(fault: RenewalFault): RenewalFault {
  if (fault?.status !== 429 && fault?.status !== 503) {
    throw new TypeError(`a renewal fault's status must be 429 or 503, got ${JSON.stringify(fault?.status)}`);
  }
  const { count, deviceId, retryAfterSeconds } = fault;
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) {
    throw new TypeError(`a renewal fault's count must be a whole number >= 1, got ${count}`);
  }
  if (deviceId !== undefined && (typeof deviceId !== "string" || deviceId === "")) {
    throw new TypeError("a renewal fault's deviceId must be a non-empty string");
  }
  if (
    retryAfterSeconds !== undefined &&
    (!Number.isFinite(retryAfterSeconds) || retryAfterSeconds < 0 || retryAfterSeconds > 3600)
  ) {
    throw new TypeError(
      `a renewal fault's retryAfterSeconds must be 0-3600 seconds, got ${retryAfterSeconds}`,
    );
  }
  const checked: RenewalFault = { status: fault.status };
  checked.count = count ?? (deviceId === undefined ? 1 : undefined);
  if (checked.count === undefined) delete checked.count;
  if (deviceId !== undefined) checked.deviceId = deviceId;
  if (retryAfterSeconds !== undefined) checked.retryAfterSeconds = retryAfterSeconds;
  return checked;
}

export function checkDelay(delayMs: number): number {
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 10 * 60 * 1000) {
    throw new TypeError(`the renewal delay must be a whole number of milliseconds 0-600000, got ${delayMs}`);
  }
  return delayMs;
}
