// Certificate renewal through the hub (`$iothub/credentials`, ADR certificate management, 2025-08-01-preview): a
// device publishes a CSR on its live connection; the hub answers 202, then 200 with a chain its ADR credential
// policy issued. Answers, codes and messages follow the IoT Hub team's "Issue Certificate API - SDK Reference Guide"
// (test run of 2026-01-30) and the Azure IoT C SDK's retry rules (see /work/shared/reference/azure-protocols.md).
import { randomBytes, randomUUID } from "node:crypto";
import type { Clock, Logger } from "@skittlesorter/core";
import type { AdrService } from "../adr/service.ts";
import { issueFromPolicy } from "../dps/issuance.ts";
import type { AdrPolicy, HubDevice, Settings } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import type { KeyVault } from "../state/vault.ts";
import type { HubSession } from "./auth.ts";
import {
  type Answer,
  checkDelay,
  checkFault,
  checkRenewalCsr,
  checkRequestBody,
  faultRefusal,
  Refusal,
  type RenewalFault,
  serviceFault,
} from "./credentials-checks.ts";
import type { HubLink } from "./service.ts";

/** The only api-version whose connections may use `$iothub/credentials`. */
export const RENEWAL_API_VERSION = "2025-08-01-preview";
export const CREDENTIALS_RESPONSE_FILTER = "$iothub/credentials/res/#";
/** What a subscription to {@link CREDENTIALS_RESPONSE_FILTER} is called among the hub's subscriptions. */
export type CredentialsSubscription = "credentials";
const REQUEST_TOPIC = /^\$iothub\/credentials\/POST\/issueCertificate\/(?:\?(.*))?$/s;
/** How long an accepted request stays active (Azure's 202 answers say about 12 hours). */
const OPERATION_LIFETIME_MS = 12 * 60 * 60 * 1000;
/** Recent requests kept for the admin API and the dashboard. */
const HISTORY = 200;

export { checkDelay, checkFault, type RenewalFault } from "./credentials-checks.ts";

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

interface Pending {
  record: RenewalRecord;
  timer: unknown;
}

/** The hub's `$iothub/credentials` surface: requests, one in flight per device, answers, records, test knobs. */
export class CertificateRenewals {
  readonly #options: CertificateRenewalsOptions;
  readonly #pending = new Map<string, Pending>();
  readonly #history: RenewalRecord[] = [];
  #delayMs: number;
  #faults: RenewalFault[];
  #closed = false;

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
      if (error instanceof Refusal) {
        this.#finish(record, "refused", error.answer);
        return;
      }
      this.#options.logger.error("certificate request failed inside the simulator", {
        deviceId,
        error: (error as Error).message,
      });
      this.#finish(record, "failed", { status: 500, body: serviceFault(500001, "Internal error.") });
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
    // Three fractional digits, unlike IoT Hub's other time stamps: the Java device SDK's CertificateSigningErrorInfo
    // quotes IoT Hub's answer as "operationExpires": "2025-06-09T17:31:31.426Z".
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
        if (this.#closed) return; // the store is gone; nobody is listening
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
    if (this.#closed || this.#pending.get(pending.record.deviceId) !== pending) return;
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
    return faultRefusal(fault);
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
    this.#closed = true;
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
