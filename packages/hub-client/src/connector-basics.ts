import { type Logger, noopLogger } from "@skittlesorter/core";
import { HubClientError } from "./errors.ts";

/** What every connector takes: a logger and the two timeouts, checked once. */
export function connectorBasics(options: {
  logger?: Logger | undefined;
  connectTimeoutMs?: number | undefined;
  operationTimeoutMs?: number | undefined;
}): { logger: Logger; connectTimeoutMs: number; operationTimeoutMs: number } {
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  const operationTimeoutMs = options.operationTimeoutMs ?? 30_000;
  for (const [name, value] of [
    ["connectTimeoutMs", connectTimeoutMs],
    ["operationTimeoutMs", operationTimeoutMs],
  ] as const) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new HubClientError(
        "HUB_INVALID_OPTION",
        `${name} must be a positive number of milliseconds, got ${value}`,
      );
    }
  }
  return { logger: options.logger ?? noopLogger, connectTimeoutMs, operationTimeoutMs };
}

/** An error's message, for logs (never its stack). */
export const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));
