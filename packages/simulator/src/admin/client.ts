import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { SimulatorError } from "../errors.ts";
import { SIM_JSON, type SimConfig } from "../simulator.ts";

export interface AdminRequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface AdminResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface AdminClientOptions {
  /** Per-request timeout. Default 10 000 ms. */
  timeoutMs?: number;
  /** Injected fetch (tests). Default: the global fetch. */
  fetch?: typeof fetch;
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
export async function readSimConfig(dataDir: string): Promise<SimConfig> {
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
    return JSON.parse(text) as SimConfig;
  } catch (error) {
    throw new SimulatorError("SIM_NOT_RUNNING", `${path} is not valid JSON; restart the simulator.`, {
      cause: error,
    });
  }
}

/** A client of the simulator's admin HTTP API (`/admin/…`). */
export class AdminClient {
  readonly baseUrl: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(baseUrl: string, options: AdminClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

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
        { statusCode: response.status, ...(error?.code === undefined ? {} : { errorCode: error.code }) },
      );
    }
    return { status: response.status, body: body as T, headers: response.headers };
  }

  async get<T = unknown>(path: string, options: AdminRequestOptions = {}): Promise<T> {
    return (await this.request<T>("GET", path, options)).body;
  }
}
