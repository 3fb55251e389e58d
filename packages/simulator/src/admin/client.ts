import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { SIM_JSON, type SimConfigOnDisk } from "../config.ts";
import { SimulatorError } from "../errors.ts";
import type { CloudToDeviceView, SendCloudToDeviceRequest } from "../hub/c2d-routes.ts";
import type { RenewalFault, RenewalRecord, RenewalSettings } from "../hub/credentials.ts";
import type { HubDeviceView } from "../hub/routes.ts";
import type { TelemetryView } from "../hub/telemetry.ts";
import type {
  AuditEvent,
  Enrollment,
  EnrollmentGroup,
  IndividualEnrollment,
  Registration,
} from "../state/model.ts";

import type {
  CaCertificateView,
  InvokeMethodRequest,
  SecretsOption,
  SimAdminCallOptions,
  TelemetryQuery,
  TelemetrySummary,
  TwinView,
} from "./client-types.ts";

export type {
  CaCertificateView,
  InvokeMethodRequest,
  SecretsOption,
  SimAdminCallOptions,
  TelemetryQuery,
  TelemetrySummary,
  TwinView,
} from "./client-types.ts";

export interface AdminRequestOptions {
  body?: unknown;
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
}

export interface AdminResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface AdminClientOptions {
  /** Per-request timeout. Default 10 000 ms. */
  timeoutMs?: number | undefined;
  /** Injected fetch (tests). Default: the global fetch. */
  fetch?: typeof fetch | undefined;
}

/**
 * The absolute data directory for `given`: the directory itself, or its `sim.json` (what `skittle --sim`
 * takes), so both forms work wherever a data directory is asked for.
 */
export function dataDirOf(given: string): string {
  const path = resolve(given);
  if (basename(path) === SIM_JSON) return dirname(path);
  try {
    if (statSync(path).isFile()) return dirname(path);
  } catch {
    // Missing: a directory the simulator will create.
  }
  return path;
}

/**
 * Reads `sim.json` of a running simulator, given its data directory or the `sim.json` path; throws
 * `SIM_NOT_RUNNING` when it is missing or unreadable.
 */
export async function readSimConfig(dataDir: string): Promise<SimConfigOnDisk> {
  const directory = dataDirOf(dataDir);
  const path = join(directory, SIM_JSON);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new SimulatorError(
      "SIM_NOT_RUNNING",
      `No simulator is running for ${directory} (${path} is missing); start one with: skittle-sim start --data-dir ${directory}`,
      { cause: error },
    );
  }
  try {
    return JSON.parse(text) as SimConfigOnDisk;
  } catch (error) {
    throw new SimulatorError("SIM_NOT_RUNNING", `${path} is not valid JSON; restart the simulator.`, {
      cause: error,
    });
  }
}

/** Requests to the simulator's admin HTTP API (`/admin/…`); {@link AdminClient} adds the typed calls. */
class AdminTransport {
  readonly baseUrl: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(baseUrl: string, options: AdminClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Sends a request; non-2xx answers throw `SIM_ADMIN_REQUEST` with the API's `statusCode` and `errorCode`. */
  async request<T = unknown>(
    method: string,
    path: string,
    options: AdminRequestOptions = {},
  ): Promise<AdminResponse<T>> {
    const signals = [AbortSignal.timeout(this.#timeoutMs)];
    if (options.signal !== undefined) signals.push(options.signal);
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    const init: RequestInit = { method, headers, signal: AbortSignal.any(signals) };
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await this.#fetch(`${this.baseUrl}${path}`, init);
    } catch (error) {
      options.signal?.throwIfAborted();
      throw new SimulatorError(
        "SIM_NOT_RUNNING",
        `The simulator's admin API at ${this.baseUrl} does not answer (${(error as Error).message}); is it running? ` +
          "Start it with: skittle-sim start --data-dir DIR",
        { cause: error },
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new SimulatorError(
        "SIM_ADMIN_REQUEST",
        error?.message ?? `${method} ${path} failed with HTTP ${response.status}.`,
        { statusCode: response.status, errorCode: error?.code },
      );
    }
    return { status: response.status, body: body as T, headers: response.headers };
  }

  async get<T = unknown>(path: string, options: AdminRequestOptions = {}): Promise<T> {
    return (await this.request<T>("GET", path, options)).body;
  }
}

/** Options of the admin client's typed calls. */
function query(values: Record<string, string | number | boolean | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

const segmentOf = { group: "enrollment-groups", individual: "individual-enrollments" } as const;
const id = encodeURIComponent;

/**
 * A client of the simulator's admin HTTP API (`sim.admin`): typed calls for enrollments, CA certificates, devices, twins, direct methods,
 * telemetry and registrations, and {@link request} for the rest. Errors are `SIM_ADMIN_REQUEST` with the API's `statusCode` and `errorCode`.
 */
export class AdminClient extends AdminTransport {
  /** A client for the simulator running with `dataDir` (found through its `sim.json`). */
  static async fromDataDir(dataDir: string, options: AdminClientOptions = {}): Promise<AdminClient> {
    const config = await readSimConfig(dataDir);
    if (typeof config.http?.url !== "string") {
      throw new SimulatorError(
        "SIM_NOT_RUNNING",
        `sim.json of ${dataDir} has no http.url; restart the simulator.`,
      );
    }
    return new AdminClient(config.http.url, options);
  }

  #call<T>(
    method: string,
    path: string,
    options: SimAdminCallOptions & { body?: unknown; headers?: Record<string, string> | undefined } = {},
  ): Promise<T> {
    return this.request<T>(method, path, options).then((response) => response.body);
  }

  /** `GET /admin/status`: counts, ports, id scope. */
  status(options: SimAdminCallOptions = {}): Promise<Record<string, unknown>> {
    return this.#call("GET", "/admin/status", options);
  }

  // enrollments ---------------------------------------------------------------------------------------

  listEnrollmentGroups(options: SecretsOption = {}): Promise<EnrollmentGroup[]> {
    return this.#call(
      "GET",
      `/admin/enrollment-groups${query({ includeSecrets: options.includeSecrets })}`,
      options,
    );
  }

  listIndividualEnrollments(options: SecretsOption = {}): Promise<IndividualEnrollment[]> {
    return this.#call(
      "GET",
      `/admin/individual-enrollments${query({ includeSecrets: options.includeSecrets })}`,
      options,
    );
  }

  getEnrollment(kind: "group", enrollmentId: string, options?: SecretsOption): Promise<EnrollmentGroup>;
  getEnrollment(
    kind: "individual",
    enrollmentId: string,
    options?: SecretsOption,
  ): Promise<IndividualEnrollment>;
  getEnrollment(
    kind: Enrollment["kind"],
    enrollmentId: string,
    options: SecretsOption = {},
  ): Promise<Enrollment> {
    return this.#call(
      "GET",
      `/admin/${segmentOf[kind]}/${id(enrollmentId)}${query({ includeSecrets: options.includeSecrets })}`,
      options,
    );
  }

  /** Creates or replaces an enrollment (the body as the README's admin API section describes it). */
  putEnrollment(
    kind: Enrollment["kind"],
    enrollmentId: string,
    body: Record<string, unknown>,
    options: SimAdminCallOptions & { ifMatch?: string | undefined } = {},
  ): Promise<Enrollment> {
    return this.#call("PUT", `/admin/${segmentOf[kind]}/${id(enrollmentId)}`, {
      ...options,
      body,
      headers: options.ifMatch === undefined ? undefined : { "if-match": options.ifMatch },
    });
  }

  deleteEnrollment(
    kind: Enrollment["kind"],
    enrollmentId: string,
    options: SimAdminCallOptions = {},
  ): Promise<void> {
    return this.#call("DELETE", `/admin/${segmentOf[kind]}/${id(enrollmentId)}`, options);
  }

  // CA certificates -----------------------------------------------------------------------------------

  listCaCertificates(options: SimAdminCallOptions = {}): Promise<CaCertificateView[]> {
    return this.#call("GET", "/admin/certificates", options);
  }

  getCaCertificate(name: string, options: SimAdminCallOptions = {}): Promise<CaCertificateView> {
    return this.#call("GET", `/admin/certificates/${id(name)}`, options);
  }

  /** Uploads a CA certificate (unverified until proof of possession). */
  putCaCertificate(
    name: string,
    certificatePem: string,
    options: SimAdminCallOptions = {},
  ): Promise<CaCertificateView> {
    return this.#call("PUT", `/admin/certificates/${id(name)}`, {
      ...options,
      body: { certificate: certificatePem },
    });
  }

  /** Starts proof of possession: the answer's `verificationCode` is the CN to sign. */
  generateVerificationCode(
    name: string,
    etag: string,
    options: SimAdminCallOptions = {},
  ): Promise<CaCertificateView> {
    return this.#call("POST", `/admin/certificates/${id(name)}/generate-verification-code`, {
      ...options,
      headers: { "if-match": etag },
    });
  }

  /** Completes proof of possession with a certificate for the verification code, signed by the CA's key. */
  verifyCaCertificate(
    name: string,
    etag: string,
    verificationCertificatePem: string,
    options: SimAdminCallOptions = {},
  ): Promise<CaCertificateView> {
    return this.#call("POST", `/admin/certificates/${id(name)}/verify`, {
      ...options,
      body: { certificate: verificationCertificatePem },
      headers: { "if-match": etag },
    });
  }

  deleteCaCertificate(
    name: string,
    options: SimAdminCallOptions & { etag?: string | undefined } = {},
  ): Promise<void> {
    return this.#call("DELETE", `/admin/certificates/${id(name)}`, {
      ...options,
      headers: options.etag === undefined ? undefined : { "if-match": options.etag },
    });
  }

  // devices, twins, methods ---------------------------------------------------------------------------

  /** Devices whose id contains `search`, from `offset`, at most `limit` (the `x-total-count` header has the total). */
  listDevices(
    options: SecretsOption & { search?: string; limit?: number; offset?: number } = {},
  ): Promise<HubDeviceView[]> {
    const { includeSecrets, search, limit, offset } = options;
    return this.#call("GET", `/admin/devices${query({ includeSecrets, search, limit, offset })}`, options);
  }

  /** Enables or disables a device: a disabled device is disconnected and its connections are refused. */
  setDeviceStatus(
    deviceId: string,
    status: "enabled" | "disabled",
    options: SimAdminCallOptions = {},
  ): Promise<void> {
    return this.#call("PATCH", `/admin/devices/${id(deviceId)}`, { ...options, body: { status } });
  }

  /** Audit events, newest `limit`, about `subject`, whose kind contains one of `kinds`. */
  listEvents(
    options: SimAdminCallOptions & { subject?: string; kinds?: string[]; limit?: number } = {},
  ): Promise<AuditEvent[]> {
    const { subject, kinds, limit } = options;
    return this.#call("GET", `/admin/events${query({ subject, kind: kinds?.join(","), limit })}`, options);
  }

  getDevice(deviceId: string, options: SecretsOption = {}): Promise<HubDeviceView> {
    return this.#call(
      "GET",
      `/admin/devices/${id(deviceId)}${query({ includeSecrets: options.includeSecrets })}`,
      options,
    );
  }

  getTwin(deviceId: string, options: SimAdminCallOptions = {}): Promise<TwinView> {
    return this.#call("GET", `/admin/devices/${id(deviceId)}/twin`, options);
  }

  /** Patches desired properties and/or tags (JSON merge patch: null deletes); the device gets the desired patch. */
  updateTwin(
    deviceId: string,
    patch: { desired?: Record<string, unknown> | undefined; tags?: Record<string, unknown> | undefined },
    options: SimAdminCallOptions & { ifMatch?: string | undefined } = {},
  ): Promise<TwinView> {
    const body: Record<string, unknown> = {};
    if (patch.desired !== undefined) body.properties = { desired: patch.desired };
    if (patch.tags !== undefined) body.tags = patch.tags;
    return this.#call("PATCH", `/admin/devices/${id(deviceId)}/twin`, {
      ...options,
      body,
      headers: options.ifMatch === undefined ? undefined : { "if-match": options.ifMatch },
    });
  }

  /** Invokes a direct method and resolves with the device's answer. */
  invokeMethod(
    deviceId: string,
    request: InvokeMethodRequest,
    options: SimAdminCallOptions = {},
  ): Promise<{ status: number; payload: unknown }> {
    return this.#call("POST", `/admin/devices/${id(deviceId)}/methods`, { ...options, body: request });
  }

  /** Queues a cloud-to-device message; the device gets it now if connected and listening, else when it is. */
  sendCloudToDeviceMessage(
    deviceId: string,
    message: SendCloudToDeviceRequest,
    options: SimAdminCallOptions = {},
  ): Promise<CloudToDeviceView> {
    return this.#call("POST", `/admin/devices/${id(deviceId)}/messages`, { ...options, body: message });
  }

  /** A device's cloud-to-device messages with their state (enqueued, invisible, completed, deadLettered). */
  listCloudToDeviceMessages(
    deviceId: string,
    options: SimAdminCallOptions = {},
  ): Promise<CloudToDeviceView[]> {
    return this.#call("GET", `/admin/devices/${id(deviceId)}/messages`, options);
  }

  /** Creates or replaces a module identity (`authentication` in IoT Hub's shape; SAS keys generated if empty). */
  putModule(
    deviceId: string,
    moduleId: string,
    module: { authentication?: unknown; managedBy?: string } = {},
    options: SimAdminCallOptions = {},
  ): Promise<Record<string, unknown>> {
    return this.#call("PUT", `/admin/devices/${id(deviceId)}/modules/${id(moduleId)}`, {
      ...options,
      body: module,
    });
  }

  listModules(deviceId: string, options: SecretsOption = {}): Promise<Record<string, unknown>[]> {
    return this.#call(
      "GET",
      `/admin/devices/${id(deviceId)}/modules${query({ includeSecrets: options.includeSecrets })}`,
      options,
    );
  }

  // telemetry, registrations --------------------------------------------------------------------------

  listTelemetry(options: TelemetryQuery = {}): Promise<TelemetryView[]> {
    const { device, after, from, to, limit } = options;
    return this.#call("GET", `/admin/telemetry${query({ device, after, from, to, limit })}`, options);
  }

  telemetrySummary(
    options: SimAdminCallOptions & { device?: string | undefined; groupBy?: string | undefined } = {},
  ): Promise<TelemetrySummary> {
    return this.#call(
      "GET",
      `/admin/telemetry/summary${query({ device: options.device, groupBy: options.groupBy })}`,
      options,
    );
  }

  listRegistrations(options: SimAdminCallOptions = {}): Promise<Registration[]> {
    return this.#call("GET", "/admin/registrations", options);
  }

  getRegistration(registrationId: string, options: SimAdminCallOptions = {}): Promise<Registration> {
    return this.#call("GET", `/admin/registrations/${id(registrationId)}`, options);
  }

  deleteRegistration(registrationId: string, options: SimAdminCallOptions = {}): Promise<void> {
    return this.#call("DELETE", `/admin/registrations/${id(registrationId)}`, options);
  }

  /** Recent certificate renewals through the hub (`issueCertificate` requests), newest first. */
  listRenewals(
    options: SimAdminCallOptions & { device?: string | undefined } = {},
  ): Promise<RenewalRecord[]> {
    return this.#call("GET", `/admin/renewals${query({ device: options.device })}`, options);
  }

  /** Sets the time between the hub's 202 and the certificate. */
  setRenewalDelay(delayMs: number, options: SimAdminCallOptions = {}): Promise<RenewalSettings> {
    return this.#call("PUT", "/admin/renewals/settings", { ...options, body: { delayMs } });
  }

  /** Answers the next renewal requests with a transient error (429 or 503). */
  addRenewalFault(fault: RenewalFault, options: SimAdminCallOptions = {}): Promise<RenewalSettings> {
    return this.#call("POST", "/admin/renewals/faults", { ...options, body: fault });
  }

  clearRenewalFaults(options: SimAdminCallOptions = {}): Promise<RenewalSettings> {
    return this.#call("DELETE", "/admin/renewals/faults", options);
  }
}
