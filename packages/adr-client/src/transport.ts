import type { TokenCredential } from "@azure/core-auth";
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type HttpMethods,
  isRestError,
  type Pipeline,
  type PipelinePolicy,
  type PipelineResponse,
  proxyPolicyName,
} from "@azure/core-rest-pipeline";
import type { Logger } from "@skittlesorter/core";
import { AdrError, type AdrErrorCode, isAdrError } from "./errors.ts";

export interface TransportOptions {
  /** Origin (`https://management.azure.com`) every request must go to; tokens are never sent elsewhere. */
  origin: string;
  credential: TokenCredential;
  scope: string;
  httpClient: HttpClient | undefined;
  maxRetries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  userAgentPrefix: string;
  ca: string | readonly string[] | undefined;
  logger: Logger;
}

export interface HttpCall {
  /** What the caller was doing, for messages: "list devices", "get device \"x\"". */
  operation: string;
  method: HttpMethods;
  url: string;
  body?: unknown;
  signal: AbortSignal;
}

/** Sends requests through Azure's pipeline: retries (429/503 Retry-After, 5xx, network), bearer token, user agent. */
export class AdrTransport {
  readonly origin: string;
  readonly #pipeline: Pipeline;
  readonly #httpClient: HttpClient;

  constructor(options: TransportOptions) {
    this.origin = options.origin;
    this.#httpClient = options.httpClient ?? createDefaultHttpClient();
    this.#pipeline = createPipelineFromOptions({
      retryOptions: {
        maxRetries: options.maxRetries,
        retryDelayInMs: options.retryDelayMs,
        maxRetryDelayInMs: options.maxRetryDelayMs,
      },
      userAgentOptions: { userAgentPrefix: options.userAgentPrefix },
      ...(options.ca === undefined ? {} : { tlsOptions: { ca: [options.ca].flat() } }),
    });
    // A loopback endpoint (the local simulator) is never reached through an HTTP(S)_PROXY from the environment.
    if (isLoopbackHost(new URL(options.origin).hostname))
      this.#pipeline.removePolicy({ name: proxyPolicyName });
    this.#pipeline.addPolicy(bearerPolicy(options.credential, options.scope), { phase: "Sign" });
    this.#pipeline.addPolicy(logPolicy(options.logger), { afterPhase: "Sign" });
  }

  /** Resolves `link` (absolute or relative) against the origin; refuses any other origin. */
  sameOriginUrl(link: string, what: string): string {
    let url: URL;
    try {
      url = new URL(link, this.origin);
    } catch (error) {
      throw new AdrError("ADR_PROTOCOL_ERROR", `ADR answered an unusable ${what} "${link}".`, {
        cause: error,
      });
    }
    if (url.origin !== this.origin) {
      throw new AdrError(
        "ADR_PROTOCOL_ERROR",
        `ADR answered a ${what} on ${url.origin}, but this client talks only to ${this.origin}; ` +
          "it will not send its bearer token elsewhere. Check baseUrl (it must be the endpoint that serves the namespace).",
      );
    }
    return url.href;
  }

  /** One request (with the pipeline's retries). Any status is returned; transport failures become AdrErrors. */
  async send(call: HttpCall): Promise<PipelineResponse> {
    const headers = createHttpHeaders({ accept: "application/json" });
    if (call.body !== undefined) headers.set("content-type", "application/json; charset=utf-8");
    const request = createPipelineRequest({
      url: call.url,
      method: call.method,
      headers,
      abortSignal: call.signal,
      allowInsecureConnection: call.url.startsWith("http:"),
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
    });
    try {
      return await this.#pipeline.sendRequest(this.#httpClient, request);
    } catch (error) {
      if (call.signal.aborted || isAdrError(error)) throw error;
      if (isRestError(error)) {
        const detail = error.code === undefined ? error.message : `${error.code}: ${error.message}`;
        throw new AdrError(
          "ADR_CONNECTION_FAILED",
          `Could not ${call.operation}: ${this.origin} did not answer (${detail}). ` +
            "Check baseUrl, the network and any HTTPS_PROXY setting; with the simulator check that it is running.",
          { cause: error },
        );
      }
      throw new AdrError(
        "ADR_REQUEST_FAILED",
        `Could not ${call.operation}: ${error instanceof Error ? error.message : String(error)}.`,
        { cause: error },
      );
    }
  }
}

/**
 * Azure's bearer token policy (token cache, refresh before expiry, CAE challenges). It refuses plain http outright;
 * we allow it for loopback hosts only (a local simulator, where the token never leaves the machine) by presenting the
 * request to the policy as https and restoring the real URL before it is sent.
 */
function bearerPolicy(credential: TokenCredential, scope: string): PipelinePolicy {
  const inner = bearerTokenAuthenticationPolicy({ credential, scopes: scope });
  return {
    name: inner.name,
    async sendRequest(request, next) {
      if (!request.url.startsWith("http:")) return inner.sendRequest(request, next);
      const real = request.url;
      if (!isLoopbackHost(new URL(real).hostname)) {
        throw new AdrError(
          "ADR_INVALID_OPTIONS",
          `Refusing to send a bearer token over plain http to ${new URL(real).origin}; use https (plain http is allowed for loopback hosts only).`,
        );
      }
      request.url = `https:${real.slice("http:".length)}`;
      try {
        return await inner.sendRequest(request, (sent) => {
          sent.url = real;
          return next(sent);
        });
      } finally {
        request.url = real;
      }
    },
  };
}

/** One line per attempt (so retries are visible). Never logs headers: the Authorization header stays out of logs. */
function logPolicy(logger: Logger): PipelinePolicy {
  return {
    name: "adrLogPolicy",
    async sendRequest(request, next) {
      const started = Date.now();
      try {
        const response = await next(request);
        const fields = {
          method: request.method,
          url: request.url,
          status: response.status,
          requestId: response.headers.get("x-ms-request-id"),
          clientRequestId: request.requestId,
          elapsedMs: Date.now() - started,
        };
        if (response.status === 429 || response.status >= 500) logger.warn("ADR request answered", fields);
        else logger.debug("ADR request", fields);
        return response;
      } catch (error) {
        logger.debug("ADR request failed", {
          method: request.method,
          url: request.url,
          error: error instanceof Error ? error.message : String(error),
          elapsedMs: Date.now() - started,
        });
        throw error;
      }
    },
  };
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "[::1]" ||
    host === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  );
}

/** Parses a JSON body, or fails with `ADR_PROTOCOL_ERROR`. */
export function readJson(operation: string, response: PipelineResponse): unknown {
  const text = response.bodyAsText ?? "";
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AdrError(
      "ADR_PROTOCOL_ERROR",
      `Could not ${operation}: the answer (status ${response.status}) is not JSON${text === "" ? " (empty body)" : ""}.`,
      { cause: error, statusCode: response.status, ...requestIds(response) },
    );
  }
}

/** Reads an ARM resource body: a JSON object with string `id`, `name` and `type`. */
export function readResource<T>(operation: string, response: PipelineResponse): T {
  const body = readJson(operation, response);
  if (!isArmResource(body)) {
    throw new AdrError(
      "ADR_PROTOCOL_ERROR",
      `Could not ${operation}: the answer is not an ARM resource (an object with id, name and type).`,
      { statusCode: response.status, ...requestIds(response) },
    );
  }
  return body as T;
}

export function isArmResource(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const { id, name, type } = value as Record<string, unknown>;
  return typeof id === "string" && typeof name === "string" && typeof type === "string";
}

export function requestIds(response: PipelineResponse): {
  requestId: string | undefined;
  correlationId: string | undefined;
} {
  return {
    requestId: response.headers.get("x-ms-request-id"),
    correlationId: response.headers.get("x-ms-correlation-request-id"),
  };
}

/** ARM `{ error: { code, message } }` (or the older top-level `{ code, message }`). */
export function armError(response: PipelineResponse): { armCode?: string; armMessage?: string } {
  let body: unknown;
  try {
    body = JSON.parse(response.bodyAsText ?? "");
  } catch {
    return {};
  }
  if (typeof body !== "object" || body === null) return {};
  const outer = body as Record<string, unknown>;
  const error = typeof outer.error === "object" && outer.error !== null ? outer.error : outer;
  const { code, message } = error as Record<string, unknown>;
  return {
    ...(typeof code === "string" ? { armCode: code } : {}),
    ...(typeof message === "string" ? { armMessage: message } : {}),
  };
}

/** The error for a non-success answer. `notFoundHint` tells what to check on 404. */
export function errorFromResponse(
  operation: string,
  response: PipelineResponse,
  options: { notFoundHint?: string; code?: AdrErrorCode } = {},
): AdrError {
  const status = response.status;
  const { armCode, armMessage } = armError(response);
  const details = { statusCode: status, armCode, armMessage, ...requestIds(response) };
  const said = [
    `status ${status}`,
    armCode,
    armMessage === undefined ? undefined : JSON.stringify(armMessage),
  ]
    .filter((part) => part !== undefined)
    .join(", ");
  const prefix = `Could not ${operation} (${said}).`;
  switch (status) {
    case 401:
      return new AdrError(
        "ADR_UNAUTHORIZED",
        `${prefix} The bearer token was refused: check that the credential signs in to the subscription's tenant ` +
          "and asks for the https://management.azure.com/.default scope; with the simulator use the token from its sim.json.",
        details,
      );
    case 403:
      return new AdrError(
        "ADR_FORBIDDEN",
        `${prefix} The identity lacks permission: give it a role on the namespace (Reader to list and get; a role with ` +
          "Microsoft.DeviceRegistry/namespaces/devices/write to update or delete), and check that the Microsoft.DeviceRegistry resource provider is registered.",
        details,
      );
    case 404:
      return new AdrError(
        "ADR_NOT_FOUND",
        `${prefix} ${options.notFoundHint ?? "Check the subscription id, resource group and namespace name."}`,
        details,
      );
    case 429:
      return new AdrError(
        "ADR_THROTTLED",
        `${prefix} ARM is still throttling after the retries; wait a minute and try again, or raise retryOptions.maxRetries.`,
        details,
      );
    default:
      return new AdrError(
        options.code ?? "ADR_REQUEST_FAILED",
        status >= 500
          ? `${prefix} The service failed even after retries; try again later (quote requestId ${details.requestId ?? "-"} to support).`
          : `${prefix} Check the request against the api-version it was sent with.`,
        details,
      );
  }
}

/** Wait asked for by `retry-after-ms` / `x-ms-retry-after-ms` (ms) or `Retry-After` (seconds or an HTTP date). */
export function retryAfterMs(response: PipelineResponse, nowMs: number): number | undefined {
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const value = Number(response.headers.get(name) ?? Number.NaN);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const header = response.headers.get("retry-after");
  if (header === undefined || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - nowMs) : undefined;
}
