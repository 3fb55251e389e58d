import type { TokenCredential } from "@azure/core-auth";
import type { HttpClient, PipelineResponse } from "@azure/core-rest-pipeline";
import { type Clock, type Logger, noopLogger, type OperationOptions, systemClock } from "@skittlesorter/core";
import { guardedCredential } from "./credential.ts";
import { AdrError } from "./errors.ts";
import { isTerminalState, pollLongRunning } from "./lro.ts";
import { devicePatchBody } from "./patch.ts";
import {
  AdrTransport,
  armError,
  errorFromResponse,
  isArmResource,
  isLoopbackHost,
  readJson,
  readResource,
  requestIds,
} from "./transport.ts";
import type { AdrCredentialPolicy, AdrDevice, AdrDevicePatch } from "./types.ts";

/** Azure's current Device Registry api-version: the one the generated ARM client (`@azure/arm-deviceregistry`) sends. */
export const ADR_API_VERSION = "2026-03-01-preview";
export const ARM_BASE_URL = "https://management.azure.com";
export const ARM_SCOPE = "https://management.azure.com/.default";

const USER_AGENT = "skittlesorter-adr-client";
const MAX_TIMER_MS = 2_147_483_647;
const DEFAULTS = {
  pollIntervalMs: 2000,
  timeoutMs: 300_000,
  maxRetries: 3,
  retryDelayMs: 1000,
  maxRetryDelayMs: 64_000,
};

export interface AdrRetryOptions {
  /** Retries after the first attempt for 429/503 with Retry-After, other 5xx, 408 and network errors. Default 3. */
  maxRetries?: number | undefined;
  /** First backoff delay for 5xx and network errors (doubles each time, with jitter). Default 1000. */
  retryDelayMs?: number | undefined;
  /** Cap of the backoff delay. Default 64000. `Retry-After` from the service is honoured as given. */
  maxRetryDelayMs?: number | undefined;
}

export interface AdrClientOptions {
  subscriptionId: string;
  resourceGroup: string;
  /** The ADR namespace (`Microsoft.DeviceRegistry/namespaces/{namespace}`). */
  namespace: string;
  /** Any `@azure/identity` credential (`DefaultAzureCredential`…), or `staticTokenCredential(token)` for the simulator. */
  credential: TokenCredential;
  /** ARM endpoint. Default `https://management.azure.com`. Plain `http:` is accepted for loopback hosts only. */
  baseUrl?: string | undefined;
  /** Default `2026-03-01-preview`; `2025-11-01-preview` has the same device, policy and synchronize calls. */
  apiVersion?: string | undefined;
  /** Token scope. Default `https://management.azure.com/.default`. */
  scope?: string | undefined;
  /** Transport (core-rest-pipeline `HttpClient`); default: the pipeline's Node client. */
  httpClient?: HttpClient | undefined;
  retryOptions?: AdrRetryOptions | undefined;
  /** Wait between long-running-operation polls when the service sends no `Retry-After`. Default 2000. */
  pollIntervalMs?: number | undefined;
  /** Default deadline of each call (for listings: of each page), long-running waits included. Default 300000. */
  timeoutMs?: number | undefined;
  /**
   * Extra PEM root(s) to trust for an https `baseUrl`: the simulator serves ADR over HTTPS (`adr.baseUrl`), so pass its
   * `trustedCa` (or the contents of `trustedCaFile`), or trust that file through `NODE_EXTRA_CA_CERTS`.
   */
  ca?: string | readonly string[] | undefined;
  /** Prepended to the User-Agent, e.g. `my-tool/1.2.0`. */
  userAgentPrefix?: string | undefined;
  /** Receives one line per HTTP attempt (method, URL, status, request ids; never headers or tokens). */
  logger?: Logger | undefined;
  /** Timer used for waits between long-running-operation polls. */
  clock?: Clock | undefined;
}

export interface AdrOperationOptions extends OperationOptions {
  /** Deadline of this call; overrides the client's `timeoutMs`. */
  timeoutMs?: number | undefined;
}

/** A client for one ADR namespace. */
export interface AdrClient {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly namespace: string;
  readonly baseUrl: string;
  readonly apiVersion: string;
  /** `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces/{ns}` */
  readonly namespaceResourceId: string;
  /** The ARM resource id of a credential policy, for `updateDevice(name, { policy: { resourceId } })`. */
  policyResourceId(policyName: string): string;
  /** Devices of the namespace, following `nextLink` page by page as you iterate. */
  listDevices(options?: AdrOperationOptions): AsyncIterableIterator<AdrDevice>;
  /** Every device of the namespace. */
  listAllDevices(options?: AdrOperationOptions): Promise<AdrDevice[]>;
  /** The device, or `undefined` when it does not exist (a missing namespace still rejects with `ADR_NOT_FOUND`). */
  getDevice(name: string, options?: AdrOperationOptions): Promise<AdrDevice | undefined>;
  /** PATCHes updatable fields (validated first), waits for a long-running completion, returns the updated device. */
  updateDevice(name: string, patch: AdrDevicePatch, options?: AdrOperationOptions): Promise<AdrDevice>;
  /** Deletes the device, waiting for a long-running completion. `false` when ARM says it did not exist (204). */
  deleteDevice(name: string, options?: AdrOperationOptions): Promise<boolean>;
  /** Credential policies of the namespace (`credentials/default/policies`), following `nextLink`. */
  listPolicies(options?: AdrOperationOptions): AsyncIterableIterator<AdrCredentialPolicy>;
  listAllPolicies(options?: AdrOperationOptions): Promise<AdrCredentialPolicy[]>;
  /** The policy, or `undefined` when it does not exist. */
  getPolicy(name: string, options?: AdrOperationOptions): Promise<AdrCredentialPolicy | undefined>;
  /** `POST …/credentials/default/synchronize`, waiting for the long-running operation to finish. */
  synchronizeCredentials(options?: AdrOperationOptions): Promise<void>;
}

/** Creates a client for one ADR namespace. Does no I/O until the first call. */
export function createAdrClient(options: AdrClientOptions): AdrClient {
  return new NamespaceClient(options);
}

class NamespaceClient implements AdrClient {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly namespace: string;
  readonly baseUrl: string;
  readonly apiVersion: string;
  readonly namespaceResourceId: string;
  readonly #transport: AdrTransport;
  readonly #root: string;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #pollIntervalMs: number;
  readonly #timeoutMs: number;

  constructor(options: AdrClientOptions) {
    if (typeof options !== "object" || options === null) {
      throw invalidOptions(
        "createAdrClient needs an options object { subscriptionId, resourceGroup, namespace, credential }.",
      );
    }
    this.subscriptionId = requiredText(
      options.subscriptionId,
      "subscriptionId",
      "the Azure subscription id (a GUID)",
    );
    this.resourceGroup = requiredText(
      options.resourceGroup,
      "resourceGroup",
      "the resource group of the namespace",
    );
    this.namespace = requiredText(options.namespace, "namespace", "the ADR namespace name");
    this.apiVersion = requiredText(
      options.apiVersion ?? ADR_API_VERSION,
      "apiVersion",
      `e.g. ${ADR_API_VERSION}`,
    );
    const scope = requiredText(options.scope ?? ARM_SCOPE, "scope", ARM_SCOPE);
    if (typeof options.credential?.getToken !== "function") {
      throw invalidOptions(
        "credential must be a TokenCredential (an object with getToken), e.g. new DefaultAzureCredential() from @azure/identity, or staticTokenCredential(token) for the simulator.",
      );
    }
    const base = parseBaseUrl(options.baseUrl ?? ARM_BASE_URL);
    this.baseUrl = base.href.replace(/\/$/, "");
    this.#pollIntervalMs = durationOption(options.pollIntervalMs, "pollIntervalMs", DEFAULTS.pollIntervalMs);
    this.#timeoutMs = durationOption(options.timeoutMs, "timeoutMs", DEFAULTS.timeoutMs);
    const retry = options.retryOptions ?? {};
    const maxRetries = durationOption(retry.maxRetries, "retryOptions.maxRetries", DEFAULTS.maxRetries);
    if (!Number.isInteger(maxRetries))
      throw invalidOptions("retryOptions.maxRetries must be a whole number.");
    this.#logger = options.logger ?? noopLogger;
    this.#clock = options.clock ?? systemClock;

    this.namespaceResourceId =
      `/subscriptions/${encodeURIComponent(this.subscriptionId)}` +
      `/resourceGroups/${encodeURIComponent(this.resourceGroup)}` +
      `/providers/Microsoft.DeviceRegistry/namespaces/${encodeURIComponent(this.namespace)}`;
    this.#root = `${this.baseUrl}${this.namespaceResourceId}`;
    const prefix = options.userAgentPrefix?.trim();
    this.#transport = new AdrTransport({
      origin: base.origin,
      credential: guardedCredential(options.credential),
      scope,
      httpClient: options.httpClient,
      maxRetries,
      retryDelayMs: durationOption(retry.retryDelayMs, "retryOptions.retryDelayMs", DEFAULTS.retryDelayMs),
      maxRetryDelayMs: durationOption(
        retry.maxRetryDelayMs,
        "retryOptions.maxRetryDelayMs",
        DEFAULTS.maxRetryDelayMs,
      ),
      userAgentPrefix: prefix === undefined || prefix === "" ? USER_AGENT : `${prefix} ${USER_AGENT}`,
      ca: options.ca,
      logger: this.#logger,
    });
  }

  policyResourceId(policyName: string): string {
    return `${this.namespaceResourceId}/credentials/default/policies/${encodeURIComponent(checkName(policyName, "policy"))}`;
  }

  listDevices(options: AdrOperationOptions = {}): AsyncIterableIterator<AdrDevice> {
    return this.#list<AdrDevice>("list devices", this.#url("/devices"), options);
  }

  async listAllDevices(options: AdrOperationOptions = {}): Promise<AdrDevice[]> {
    return collect(this.listDevices(options));
  }

  listPolicies(options: AdrOperationOptions = {}): AsyncIterableIterator<AdrCredentialPolicy> {
    return this.#list<AdrCredentialPolicy>(
      "list credential policies",
      this.#url("/credentials/default/policies"),
      options,
    );
  }

  async listAllPolicies(options: AdrOperationOptions = {}): Promise<AdrCredentialPolicy[]> {
    return collect(this.listPolicies(options));
  }

  async getDevice(name: string, options: AdrOperationOptions = {}): Promise<AdrDevice | undefined> {
    const url = this.#url(`/devices/${encodeURIComponent(checkName(name, "device"))}`);
    return this.#getOptional<AdrDevice>(`get device "${name}"`, url, options);
  }

  async getPolicy(name: string, options: AdrOperationOptions = {}): Promise<AdrCredentialPolicy | undefined> {
    const url = this.#url(`/credentials/default/policies/${encodeURIComponent(checkName(name, "policy"))}`);
    return this.#getOptional<AdrCredentialPolicy>(`get credential policy "${name}"`, url, options);
  }

  async updateDevice(
    name: string,
    patch: AdrDevicePatch,
    options: AdrOperationOptions = {},
  ): Promise<AdrDevice> {
    const url = this.#url(`/devices/${encodeURIComponent(checkName(name, "device"))}`);
    const body = devicePatchBody(patch);
    const operation = `update device "${name}"`;
    return this.#run(options, async (signal) => {
      const response = await this.#transport.send({ operation, method: "PATCH", url, body, signal });
      if (response.status === 404) {
        throw errorFromResponse(operation, response, {
          notFoundHint: `Device "${name}" does not exist in namespace "${this.namespace}" (or the namespace does not exist); list devices to check the name.`,
        });
      }
      if (response.status < 200 || response.status > 299) throw errorFromResponse(operation, response);
      if (response.status === 200 || response.status === 201) {
        const device = readResource<AdrDevice>(operation, response);
        if (!needsPolling(response, device)) return device;
      }
      if (response.status !== 204) await pollLongRunning(operation, response, this.#pollContext(signal));
      return this.#mustGet<AdrDevice>(operation, url, signal);
    });
  }

  async deleteDevice(name: string, options: AdrOperationOptions = {}): Promise<boolean> {
    const url = this.#url(`/devices/${encodeURIComponent(checkName(name, "device"))}`);
    const operation = `delete device "${name}"`;
    return this.#run(options, async (signal) => {
      const response = await this.#transport.send({ operation, method: "DELETE", url, signal });
      if (response.status === 204) return false;
      if (response.status === 200) return true;
      if (response.status === 202) {
        await pollLongRunning(operation, response, this.#pollContext(signal));
        return true;
      }
      throw errorFromResponse(operation, response, {
        notFoundHint: `Device "${name}" or namespace "${this.namespace}" does not exist; list devices to check the name.`,
      });
    });
  }

  async synchronizeCredentials(options: AdrOperationOptions = {}): Promise<void> {
    const url = this.#url("/credentials/default/synchronize");
    const operation = `synchronize the credentials of namespace "${this.namespace}"`;
    await this.#run(options, async (signal) => {
      const response = await this.#transport.send({ operation, method: "POST", url, signal });
      if (
        response.status === 202 ||
        (response.status < 300 && response.headers.has("azure-asyncoperation"))
      ) {
        await pollLongRunning(operation, response, this.#pollContext(signal));
        return;
      }
      if (response.status >= 200 && response.status <= 299) return;
      throw errorFromResponse(operation, response, {
        notFoundHint: `Namespace "${this.namespace}" or its credential (credentials/default) does not exist; create the namespace credential first.`,
      });
    });
  }

  async *#list<T>(
    operation: string,
    firstUrl: string,
    options: AdrOperationOptions,
  ): AsyncIterableIterator<T> {
    const seen = new Set<string>();
    let next: string | undefined = firstUrl;
    for (let page = 1; next !== undefined; page++) {
      const url: string = next;
      seen.add(url);
      const { items, nextLink } = await this.#run(options, async (signal) => {
        const response = await this.#transport.send({ operation, method: "GET", url, signal });
        if (response.status !== 200) {
          throw errorFromResponse(operation, response, {
            notFoundHint: `Namespace "${this.namespace}" was not found in resource group "${this.resourceGroup}" of subscription ${this.subscriptionId}; check the three names.`,
          });
        }
        return readPage<T>(operation, response);
      });
      this.#logger.debug("ADR page", { operation, page, items: items.length, more: nextLink !== undefined });
      if (nextLink !== undefined) {
        next = this.#withApiVersion(this.#transport.sameOriginUrl(nextLink, "nextLink"));
        if (seen.has(next)) {
          throw new AdrError(
            "ADR_PROTOCOL_ERROR",
            `Could not ${operation}: the service returned a nextLink it had already returned (${next}); stopping instead of looping.`,
          );
        }
      } else {
        next = undefined;
      }
      yield* items;
    }
  }

  async #getOptional<T>(
    operation: string,
    url: string,
    options: AdrOperationOptions,
  ): Promise<T | undefined> {
    return this.#run(options, async (signal) => {
      const response = await this.#transport.send({ operation, method: "GET", url, signal });
      if (response.status === 404 && armError(response).armCode !== "ParentResourceNotFound")
        return undefined;
      if (response.status !== 200) {
        throw errorFromResponse(operation, response, {
          notFoundHint: `Namespace "${this.namespace}" was not found in resource group "${this.resourceGroup}" of subscription ${this.subscriptionId}; check the three names.`,
        });
      }
      return readResource<T>(operation, response);
    });
  }

  async #mustGet<T>(operation: string, url: string, signal: AbortSignal): Promise<T> {
    const response = await this.#transport.send({
      operation: `${operation} (read the result)`,
      method: "GET",
      url,
      signal,
    });
    if (response.status !== 200) throw errorFromResponse(`${operation} (read the result)`, response);
    return readResource<T>(operation, response);
  }

  /** Runs one call under its deadline; an abort rejects with `signal.reason`, the deadline with `ADR_TIMEOUT`. */
  async #run<T>(options: AdrOperationOptions, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const callerSignal = options.signal;
    callerSignal?.throwIfAborted();
    const timeoutMs = durationOption(options.timeoutMs, "timeoutMs", this.#timeoutMs);
    const deadline = new AbortController();
    // Longer than setTimeout can wait (~24.8 days) means no deadline.
    const timer =
      timeoutMs > MAX_TIMER_MS
        ? undefined
        : setTimeout(() => {
            deadline.abort(
              new AdrError(
                "ADR_TIMEOUT",
                `The ADR call did not finish within ${timeoutMs} ms; raise timeoutMs, or check that ${this.baseUrl} is reachable.`,
              ),
            );
          }, timeoutMs);
    const signal =
      callerSignal === undefined ? deadline.signal : AbortSignal.any([callerSignal, deadline.signal]);
    try {
      return await body(signal);
    } catch (error) {
      if (callerSignal?.aborted === true) throw callerSignal.reason;
      if (deadline.signal.aborted) throw deadline.signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #pollContext(signal: AbortSignal) {
    return {
      transport: this.#transport,
      clock: this.#clock,
      logger: this.#logger,
      pollIntervalMs: this.#pollIntervalMs,
      signal,
    };
  }

  #url(path: string): string {
    return `${this.#root}${path}?api-version=${encodeURIComponent(this.apiVersion)}`;
  }

  #withApiVersion(link: string): string {
    const url = new URL(link);
    if (!url.searchParams.has("api-version")) url.searchParams.set("api-version", this.apiVersion);
    return url.href;
  }
}

/** A 200/201 that still carries an unfinished operation (ARM's "provisioningState + Azure-AsyncOperation" form). */
function needsPolling(
  response: PipelineResponse,
  resource: { properties?: { provisioningState?: unknown } },
): boolean {
  if (!response.headers.has("azure-asyncoperation")) return false;
  const state = resource.properties?.provisioningState;
  return state !== undefined && !isTerminalState(state);
}

function readPage<T>(
  operation: string,
  response: PipelineResponse,
): { items: T[]; nextLink: string | undefined } {
  const body = readJson(operation, response);
  const page = body as { value?: unknown; nextLink?: unknown } | null;
  if (typeof page !== "object" || page === null || !Array.isArray(page.value)) {
    throw new AdrError(
      "ADR_PROTOCOL_ERROR",
      `Could not ${operation}: the answer is not an ARM list page { value: [...] }.`,
      {
        statusCode: response.status,
        ...requestIds(response),
      },
    );
  }
  if (!page.value.every(isArmResource)) {
    throw new AdrError(
      "ADR_PROTOCOL_ERROR",
      `Could not ${operation}: an item of the page is not an ARM resource (an object with id, name and type).`,
      { statusCode: response.status, ...requestIds(response) },
    );
  }
  const nextLink = typeof page.nextLink === "string" && page.nextLink !== "" ? page.nextLink : undefined;
  return { items: page.value as T[], nextLink };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

function parseBaseUrl(value: unknown): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw invalidOptions(`baseUrl must be an absolute URL such as ${ARM_BASE_URL}, got "${String(value)}".`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalidOptions(`baseUrl must be an https URL, got "${url.protocol}".`);
  }
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw invalidOptions(
      `baseUrl ${url.origin} is plain http; bearer tokens are only sent over https (plain http is accepted for loopback hosts such as a local simulator).`,
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw invalidOptions(
      `baseUrl must not carry a query or fragment; pass apiVersion separately, got "${url.href}".`,
    );
  }
  return url;
}

function requiredText(value: unknown, name: string, what: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw invalidOptions(`${name} is required: ${what}.`);
  }
  return value;
}

function durationOption(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalidOptions(`${name} must be a finite number ≥ 0, got ${String(value)}.`);
  }
  return value;
}

function checkName(name: unknown, kind: string): string {
  if (typeof name !== "string" || name === "") {
    throw new AdrError("ADR_INVALID_OPTIONS", `A ${kind} name is required (a non-empty string).`);
  }
  return name;
}

function invalidOptions(message: string): AdrError {
  return new AdrError("ADR_INVALID_OPTIONS", message);
}
