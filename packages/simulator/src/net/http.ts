import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from "node:https";
import type { AddressInfo } from "node:net";
import { errorGuard, type Logger, SkittleError } from "@skittlesorter/core";
import { isSimulatorError, type SimulatorErrorCode } from "../errors.ts";

/** An error answered as `{ "error": { "code", "message" } }` with `status`: the HTTP layer's own refusals. */
export class HttpError extends SkittleError<string> {
  readonly status: number;
  /** Extra response headers (e.g. `WWW-Authenticate`). */
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

/** True for an {@link HttpError} (any code: the HTTP layer's codes carry no common prefix). */
export const isHttpError = errorGuard<HttpError>("HttpError", "");

/** The HTTP status each domain error answers with: the one place domain codes meet status codes. */
const STATUS_OF_DOMAIN_ERROR: Partial<Record<SimulatorErrorCode, number>> = {
  SIM_INVALID_REQUEST: 400,
  SIM_INVALID_OPTION: 400,
  SIM_NOT_FOUND: 404,
  SIM_DEVICE_NOT_ONLINE: 404,
  SIM_CONFLICT: 409,
  SIM_PRECONDITION_FAILED: 412,
  SIM_TIMEOUT: 504,
  SIM_LIMIT_EXCEEDED: 403,
};

/** The answer for an error a route threw; undefined for an unexpected one (answered 500 and logged). */
export function httpAnswerOf(
  error: unknown,
): { status: number; code: string; message: string; headers: Record<string, string> } | undefined {
  if (isHttpError(error)) {
    return { status: error.status, code: error.code, message: error.message, headers: error.headers };
  }
  if (isSimulatorError(error)) {
    const status = STATUS_OF_DOMAIN_ERROR[error.code];
    if (status === undefined) return undefined;
    return { status, code: error.errorCode ?? error.code, message: error.message, headers: {} };
  }
  return undefined;
}

export interface RouteRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** The parsed JSON body (undefined when empty). */
  body: unknown;
  /** The request itself: its socket tells the scheme (`encrypted`) and a TLS client's certificate. */
  incoming: IncomingMessage;
}

export interface RouteResponse {
  status?: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is (give `content-type` in `headers`); wins over `body`. */
  raw?: Buffer | string;
  headers?: Record<string, string>;
  /** Takes over the response (server-sent events): writes the head and keeps it open. */
  stream?: (response: ServerResponse, request: IncomingMessage) => void;
}

export type RouteHandler = (request: RouteRequest) => RouteResponse | Promise<RouteResponse>;

interface Route {
  method: string;
  segments: string[];
  handler: RouteHandler;
}

/**
 * A small method + path router (`/admin/enrollment-groups/:id`). Literal segments match case-insensitively
 * (ARM paths are case-insensitive); `:name` segments capture the URL-decoded text.
 */
export class Router {
  readonly #routes: Route[] = [];

  add(method: string, pattern: string, handler: RouteHandler): this {
    this.#routes.push({ method, segments: pattern.split("/").filter(Boolean), handler });
    return this;
  }

  match(
    method: string,
    path: string,
  ): { handler: RouteHandler; params: Record<string, string> } | "method" | undefined {
    const parts = path.split("/").filter(Boolean);
    let pathMatched = false;
    for (const route of this.#routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let index = 0; index < parts.length; index++) {
        const segment = route.segments[index] ?? "";
        const part = parts[index] ?? "";
        if (segment.startsWith(":")) {
          try {
            params[segment.slice(1)] = decodeURIComponent(part);
          } catch {
            ok = false;
            break;
          }
        } else if (segment.toLowerCase() !== part.toLowerCase()) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      pathMatched = true;
      if (route.method === method) return { handler: route.handler, params };
    }
    return pathMatched ? "method" : undefined;
  }
}

export interface JsonServerOptions {
  host: string;
  port: number;
  router: Router;
  logger: Logger;
  maxBodyBytes: number;
  /**
   * Host names (without port) the server answers to; any other `Host` is refused (DNS rebinding).
   * `localhost`, `127.0.0.1`, `[::1]` and `host` are always allowed.
   */
  allowedHostNames?: readonly string[] | undefined;
  /** Serve HTTPS with these TLS options (certificate, key, client-certificate requests); plain HTTP when absent. */
  tls?: HttpsServerOptions | undefined;
}

/** Host names every simulator answers to, whatever it binds to. */
export const LOOPBACK_HOST_NAMES: readonly string[] = ["localhost", "127.0.0.1", "[::1]"];

const MUTATING_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** `::1` → `[::1]`, lowercase: the form a name takes in a `Host` header or a URL. */
export function normalizeHostName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.includes(":") && !lower.startsWith("[") ? `[${lower}]` : lower;
}

/** The name part of a `Host` header (`[::1]:8080` → `[::1]`); undefined when it cannot be parsed. */
function hostNameOf(header: string): string | undefined {
  try {
    const url = new URL(`http://${header}`);
    if (url.username !== "" || url.password !== "" || url.pathname !== "/" || url.search !== "")
      return undefined;
    return url.hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Whether a body media type is JSON (`application/json`, `application/merge-patch+json`, any parameters). */
function isJsonMediaType(header: string | undefined): boolean {
  const type = header?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

function carriesBody(request: IncomingMessage): boolean {
  const length = request.headers["content-length"];
  return request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/**
 * Refuses what a web page on another site (or a DNS-rebound name) could make a browser send: any request
 * whose `Host` is not one of the simulator's names, and a mutating request that is cross-origin
 * (`Origin`, `Sec-Fetch-Site`) or carries a body that is not JSON (a `text/plain` POST needs no CORS preflight).
 */
function guard(request: IncomingMessage, allowed: ReadonlySet<string>, port: number): void {
  const allowedList = [...allowed].join(", ");
  const host = request.headers.host;
  const name = host === undefined ? undefined : hostNameOf(host);
  if (name === undefined || !allowed.has(name)) {
    throw new HttpError(
      403,
      "HOST_NOT_ALLOWED",
      `The Host header ${host === undefined ? "is missing" : `"${host.slice(0, 200)}" is not one of the simulator's names`}; ` +
        `use one of ${allowedList} (with the simulator's port), e.g. http://127.0.0.1:${port}. ` +
        "Other names are refused to stop DNS rebinding; start the simulator with --host NAME to serve another name.",
    );
  }
  if (!MUTATING_METHODS.has(request.method ?? "GET")) return;
  const origin = request.headers.origin;
  if (origin !== undefined && !isOwnOrigin(origin, allowed, port)) {
    throw new HttpError(
      403,
      "CROSS_ORIGIN_REQUEST",
      `Requests that change the simulator are refused from Origin "${origin.slice(0, 200)}": only pages the simulator ` +
        `serves itself (http://<${allowedList}>:${port}) may send them. Use skittle-sim, the admin client, or an HTTP ` +
        "client that sends no Origin header.",
    );
  }
  const site = request.headers["sec-fetch-site"];
  if (site === "cross-site" || site === "same-site") {
    throw new HttpError(
      403,
      "CROSS_SITE_REQUEST",
      `Requests that change the simulator are refused from other sites (Sec-Fetch-Site: ${site}); use the dashboard ` +
        "the simulator serves, skittle-sim, or the admin client.",
    );
  }
  const type = request.headers["content-type"];
  if (carriesBody(request) && !isJsonMediaType(type)) {
    throw new HttpError(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      `The request body must be JSON sent with "Content-Type: application/json"${type === undefined ? " (the header is missing)" : `, not "${type.slice(0, 100)}"`}.`,
    );
  }
}

function isOwnOrigin(origin: string, allowed: ReadonlySet<string>, port: number): boolean {
  try {
    const url = new URL(origin);
    return (
      url.protocol === "http:" && allowed.has(url.hostname.toLowerCase()) && Number(url.port || 80) === port
    );
  } catch {
    return false; // includes "null" (sandboxed frames, file: pages)
  }
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) return;
  if (body === undefined) {
    response.writeHead(status, headers).end();
    return;
  }
  const text = `${JSON.stringify(body, null, 2)}\n`;
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers }).end(text);
}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, "PAYLOAD_TOO_LARGE", `The request body exceeds ${limit} bytes.`));
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Starts a JSON HTTP server for `router`; resolves once it listens. */
export async function startJsonServer(options: JsonServerOptions): Promise<{ server: Server; port: number }> {
  const allowedHostNames = new Set(
    [...LOOPBACK_HOST_NAMES, options.host, ...(options.allowedHostNames ?? [])].map(normalizeHostName),
  );
  let listeningPort = options.port;
  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    void handle(request, response);
  };
  const server: Server =
    options.tls === undefined ? createServer(listener) : createHttpsServer(options.tls, listener);
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = request.method ?? "GET";
    let url: URL;
    try {
      url = new URL(request.url ?? "/", "http://simulator.invalid");
    } catch {
      send(response, 400, { error: { code: "BAD_REQUEST", message: "The request URL cannot be parsed." } });
      return;
    }
    try {
      guard(request, allowedHostNames, listeningPort);
      const matched = options.router.match(method, url.pathname);
      if (matched === undefined) {
        throw new HttpError(
          404,
          "NOT_FOUND",
          `No route ${method} ${url.pathname}; see the simulator README for the admin API.`,
        );
      }
      if (matched === "method") {
        throw new HttpError(405, "METHOD_NOT_ALLOWED", `${method} is not supported on ${url.pathname}.`);
      }
      const raw = await readBody(request, options.maxBodyBytes);
      let body: unknown;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          throw new HttpError(400, "INVALID_JSON", "The request body is not valid JSON.");
        }
      }
      const result = await matched.handler({
        method,
        path: url.pathname,
        params: matched.params,
        query: url.searchParams,
        headers: request.headers,
        body,
        incoming: request,
      });
      if (result.stream !== undefined) {
        result.stream(response, request);
        return;
      }
      if (result.raw !== undefined) {
        if (!response.headersSent) response.writeHead(result.status ?? 200, result.headers).end(result.raw);
        return;
      }
      send(response, result.status ?? 200, result.body, result.headers);
    } catch (error) {
      const answer = httpAnswerOf(error);
      if (answer !== undefined) {
        send(
          response,
          answer.status,
          { error: { code: answer.code, message: answer.message } },
          answer.headers,
        );
        return;
      }
      options.logger.error("admin request failed", {
        method,
        path: url.pathname,
        error: (error as Error)?.message,
      });
      send(response, 500, {
        error: { code: "INTERNAL", message: "Internal error in the simulator; see its log." },
      });
    }
  };
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  listeningPort = (server.address() as AddressInfo).port;
  return { server, port: listeningPort };
}

/**
 * Whether the request asked for secrets with `?includeSecrets=true`. Keys and tokens are opt-in so that
 * ordinary output (lists, the dashboard, logs of scripts) never carries them.
 */
export function includeSecrets(request: RouteRequest): boolean {
  const value = request.query.get("includeSecrets");
  if (value === null || value === "false") return false;
  if (value === "true" || value === "") return true;
  throw new HttpError(
    400,
    "INVALID_QUERY",
    `"includeSecrets" must be true or false, got "${value.slice(0, 64)}".`,
  );
}

/** `"etag"`, `W/"etag"` or `*` as sent in `If-Match` → the bare etag (or `*`); undefined when absent. */
export function ifMatchOf(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === "") return undefined;
  return value
    .trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1");
}
