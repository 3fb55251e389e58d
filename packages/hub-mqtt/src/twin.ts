import { abortable, deferred, linkSignals } from "@skittlesorter/core";
import { type Answer, answerError, type PendingRequests } from "./answers.ts";
import { HubError } from "./errors.ts";
import { backoffDelayMs, isTransientStatus, parseErrorDetails } from "./protocol.ts";
import type { Session, SessionKeeper } from "./session-keeper.ts";

export interface TwinOptions {
  signal?: AbortSignal | undefined;
}

/** The device's twin as the device sees it. */
export interface Twin {
  desired: Record<string, unknown> & { $version?: number };
  reported: Record<string, unknown> & { $version?: number };
}

/**
 * Sends a `$iothub/twin` request and resolves with its success answer. Asks again on the next connection when
 * the connection drops before the answer; retries 429 and 5xx answers after their `retry-after` (or a backoff).
 */
export async function requestTwin(
  keeper: SessionKeeper,
  pending: PendingRequests,
  topicFor: (rid: string) => string,
  payload: string,
  signal: AbortSignal | undefined,
): Promise<Answer> {
  const { clock, requestTimeoutMs, logger } = keeper.settings;
  let attempt = 0;
  for (;;) {
    const rid = keeper.settings.newRequestId();
    const answer = deferred<Answer>();
    pending.set(rid, (received) => answer.resolve(received));
    const timeout = new AbortController();
    const handle = clock.setTimeout(() => {
      timeout.abort(
        new HubError(
          "HUB_TIMEOUT",
          `IoT Hub did not answer ${topicFor(rid)} within ${requestTimeoutMs} ms.`,
          {
            requestId: rid,
          },
        ),
      );
    }, requestTimeoutMs);
    let received: Answer;
    try {
      const bounded = linkSignals([signal, timeout.signal]);
      let session: Session;
      try {
        session = await keeper.publishReliably(topicFor(rid), payload, bounded.signal);
      } finally {
        bounded.dispose();
      }
      try {
        received = await abortable(answer.promise, [
          signal,
          keeper.closing,
          timeout.signal,
          session.lost.signal,
        ]);
      } catch (error) {
        // Twin answers are not kept for a dropped session: ask again on the next one.
        if (
          session.lost.signal.aborted &&
          !signal?.aborted &&
          !keeper.closing.aborted &&
          !timeout.signal.aborted
        ) {
          continue;
        }
        throw error;
      }
    } finally {
      clock.clearTimeout(handle);
      pending.delete(rid);
      answer.promise.catch(() => {});
    }
    if (received.statusCode < 300) return received;
    const details = parseErrorDetails(received.body);
    if (isTransientStatus(received.statusCode)) {
      const delayMs =
        received.retryAfterSeconds === undefined
          ? backoffDelayMs(attempt, keeper.settings, keeper.settings.random)
          : received.retryAfterSeconds * 1000;
      attempt += 1;
      logger.warn("hub twin request throttled or failed transiently; retrying", {
        statusCode: received.statusCode,
        errorCode: details.errorCode,
        delayMs,
      });
      await keeper.sleep(delayMs, signal);
      continue;
    }
    throw answerError(received, details, "twin request", keeper.deviceId);
  }
}

export function objectOr(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

export function versionOf(patch: unknown): number | undefined {
  const version = objectOr(patch).$version;
  return typeof version === "number" ? version : undefined;
}
