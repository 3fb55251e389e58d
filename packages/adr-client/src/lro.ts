import type { PipelineResponse } from "@azure/core-rest-pipeline";
import { type Clock, delay, type Logger } from "@skittlesorter/core";
import { AdrError } from "./errors.ts";
import {
  type AdrTransport,
  armError,
  errorFromResponse,
  readJson,
  requestIds,
  retryAfterMs,
} from "./transport.ts";

export interface PollContext {
  transport: AdrTransport;
  clock: Clock;
  logger: Logger;
  pollIntervalMs: number;
  signal: AbortSignal;
}

const TERMINAL = new Set(["succeeded", "failed", "canceled", "cancelled"]);

export function isTerminalState(state: unknown): boolean {
  return typeof state === "string" && TERMINAL.has(state.toLowerCase());
}

/**
 * Waits for an ARM long-running operation started by `initial` (a 202, or a 200/201 carrying
 * `Azure-AsyncOperation`). Polls `Azure-AsyncOperation` (preferred) or `Location`, waiting `Retry-After` between polls
 * (else `pollIntervalMs`). Resolves on success; rejects with `ADR_LRO_FAILED` on `Failed`/`Canceled` or an error
 * answer. Returns the last `Location` answer when that is how the operation was followed (it may carry the result).
 */
export async function pollLongRunning(
  operation: string,
  initial: PipelineResponse,
  context: PollContext,
): Promise<PipelineResponse | undefined> {
  const { transport, clock, logger, signal } = context;
  const asyncHeader = initial.headers.get("azure-asyncoperation");
  const locationHeader = initial.headers.get("location");
  if (asyncHeader === undefined && locationHeader === undefined) {
    throw new AdrError(
      "ADR_PROTOCOL_ERROR",
      `Could not ${operation}: ARM accepted it (status ${initial.status}) but gave neither an Azure-AsyncOperation nor a Location header to follow.`,
      { statusCode: initial.status, ...requestIds(initial) },
    );
  }
  const useAsync = asyncHeader !== undefined;
  const statusUrl = transport.sameOriginUrl(
    useAsync ? asyncHeader : (locationHeader as string),
    useAsync ? "Azure-AsyncOperation URL" : "Location URL",
  );
  let last = initial;
  for (let attempt = 1; ; attempt++) {
    const waitMs = retryAfterMs(last, clock.now()) ?? context.pollIntervalMs;
    logger.debug("ADR long-running operation pending", { operation, attempt, waitMs });
    await delay(waitMs, { signal, clock });
    const response = await transport.send({
      operation: `${operation} (poll operation status)`,
      method: "GET",
      url: statusUrl,
      signal,
    });
    last = response;
    if (response.status === 401 || response.status === 403) {
      throw errorFromResponse(`${operation} (poll operation status)`, response);
    }
    if (response.status >= 400) {
      throw errorFromResponse(`${operation} (the long-running operation failed)`, response, {
        code: "ADR_LRO_FAILED",
        notFoundHint: "The operation status URL is gone; check the resource itself.",
      });
    }
    if (useAsync) {
      const body = readJson(`${operation} (poll operation status)`, response);
      const status = (body as { status?: unknown } | null)?.status;
      if (typeof status !== "string") {
        throw new AdrError(
          "ADR_PROTOCOL_ERROR",
          `Could not ${operation}: the operation status answer has no "status" field.`,
          { statusCode: response.status, ...requestIds(response) },
        );
      }
      if (!isTerminalState(status)) continue;
      if (status.toLowerCase() === "succeeded") return undefined;
      const { armCode, armMessage } = armError(response);
      throw new AdrError(
        "ADR_LRO_FAILED",
        `Could not ${operation}: the long-running operation ended ${status}` +
          `${armCode === undefined ? "" : ` (${armCode}${armMessage === undefined ? "" : `: ${JSON.stringify(armMessage)}`})`}. ` +
          "Check the resource's provisioningState and retry.",
        {
          statusCode: response.status,
          armCode,
          armMessage,
          operationStatus: status,
          ...requestIds(response),
        },
      );
    }
    if (response.status !== 202) return response;
  }
}
