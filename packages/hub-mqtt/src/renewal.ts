import type { KeyObject } from "node:crypto";
import { abortable, deferred, linkSignals } from "@skittlesorter/core";
import { checkCsrFor, type IssuedCertificateChain } from "@skittlesorter/csr";
import { type Answer, answerError, type PendingRequests } from "./answers.ts";
import { HubError } from "./errors.ts";
import { checkIssuedChain } from "./issued-chain.ts";
import {
  certificatesFromAnswer,
  issueCertificateBody,
  issueCertificateTopic,
  parseErrorDetails,
  renewalRetryDelayMs,
} from "./protocol.ts";
import type { SessionKeeper } from "./session-keeper.ts";
import type { Settings } from "./settings.ts";

/** The CSR to renew with, and the public key the issued leaf must carry. */
export interface RenewalCsr {
  /** base64 DER (the `wire` of `createCsr`) or PEM; CN = device id. */
  wire: string;
  publicKey: KeyObject;
}

export interface RenewCertificateOptions {
  csr: RenewalCsr;
  /** `"*"` or a pending request's id: cancel that request on the hub and start this one (`replace`). */
  replace?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface RenewalResult {
  /** The issued chain, leaf first, checked against the CSR. */
  chain: IssuedCertificateChain;
  /** The hub's `correlationId`, for support. */
  correlationId: string | undefined;
  /** The `$rid` of the request that succeeded. */
  requestId: string;
}

/**
 * Sends `$iothub/credentials/POST/issueCertificate` and waits for the chain: a 202 (or a 409 naming this very
 * request) re-arms the wait, a 200 ends it, 429/503/500 are retried with a new `$rid`.
 */
export async function renewThroughHub(
  keeper: SessionKeeper,
  pending: PendingRequests,
  options: RenewCertificateOptions,
): Promise<RenewalResult> {
  const { clock, logger, renewalTimeoutMs } = keeper.settings;
  const signal = options.signal;
  signal?.throwIfAborted();
  const csrWire = await checkCsr(options.csr, keeper.deviceId);
  checkReplace(options.replace);
  let attempt = 0;
  for (;;) {
    const rid = keeper.settings.newRequestId();
    const inbox: Answer[] = [];
    let wake = deferred<void>();
    pending.set(rid, (received) => {
      inbox.push(received);
      wake.resolve();
    });
    const timeout = new AbortController();
    let handle: unknown;
    const arm = (): void => {
      clock.clearTimeout(handle);
      handle = clock.setTimeout(() => {
        timeout.abort(
          new HubError(
            "HUB_TIMEOUT",
            `IoT Hub sent no answer to certificate request ${rid} within ${renewalTimeoutMs} ms. Renew again later (with replace: "*" to cancel the pending request).`,
            { requestId: rid },
          ),
        );
      }, renewalTimeoutMs);
    };
    let retryDelayMs: number | undefined;
    try {
      arm();
      logger.info("hub certificate renewal requested", { requestId: rid, attempt });
      const bounded = linkSignals([signal, timeout.signal]);
      try {
        await keeper.publishReliably(
          issueCertificateTopic(rid),
          issueCertificateBody(keeper.deviceId, csrWire, options.replace),
          bounded.signal,
        );
      } finally {
        bounded.dispose();
      }
      // The answers survive a reconnect (clean: false), so a dropped connection does not end the wait.
      while (retryDelayMs === undefined) {
        if (inbox.length === 0) {
          await abortable(wake.promise, [signal, keeper.closing, timeout.signal]);
          wake = deferred<void>();
        }
        const received = inbox.shift() as Answer;
        if (received.statusCode === 202 || isConflictWithItself(received, rid)) {
          // A 409 naming this very request answers a copy sent again after a dropped connection: the
          // original is active, so keep waiting for its answers.
          logger.debug("hub certificate request accepted", {
            requestId: rid,
            statusCode: received.statusCode,
          });
          arm();
          continue;
        }
        if (received.statusCode === 200) return issuedChainOf(received, rid, options.csr, keeper.settings);
        const details = parseErrorDetails(received.body);
        retryDelayMs = renewalRetryDelayMs(
          received.statusCode,
          attempt,
          received.retryAfterSeconds,
          keeper.settings,
          keeper.settings.random,
        );
        if (retryDelayMs === undefined)
          throw answerError(received, details, "certificate request", keeper.deviceId);
        logger.warn("hub certificate request refused transiently; retrying", {
          requestId: rid,
          statusCode: received.statusCode,
          errorCode: details.errorCode,
          delayMs: retryDelayMs,
        });
      }
    } finally {
      clock.clearTimeout(handle);
      pending.delete(rid);
      wake.promise.catch(() => {});
    }
    attempt += 1;
    await keeper.sleep(retryDelayMs, signal);
  }
}

/** Checks the 200 answer's chain against the CSR; the result of the renewal. */
function issuedChainOf(received: Answer, rid: string, csr: RenewalCsr, settings: Settings): RenewalResult {
  const parsed = certificatesFromAnswer(received.body);
  if (typeof parsed === "string") {
    throw new HubError(
      "HUB_PROTOCOL_ERROR",
      `IoT Hub answered the certificate request with 200 but ${parsed}.`,
      {
        statusCode: 200,
        requestId: rid,
      },
    );
  }
  const chain = checkIssuedChain(parsed.chain, {
    deviceId: settings.deviceId,
    publicKey: csr.publicKey,
    clock: settings.clock,
  });
  settings.logger.info("hub certificate issued", {
    requestId: rid,
    certificates: chain.pems.length,
    notAfter: chain.certificates[0]?.notAfter.toISOString(),
  });
  return { chain, correlationId: parsed.correlationId, requestId: rid };
}

function isConflictWithItself(received: Answer, rid: string): boolean {
  return received.statusCode === 409 && parseErrorDetails(received.body).info?.requestId === rid;
}

async function checkCsr(csr: RenewalCsr, deviceId: string): Promise<string> {
  const invalid = (message: string, cause?: unknown): HubError =>
    new HubError("HUB_INVALID_OPTIONS", message, { cause });
  if (typeof csr?.wire !== "string")
    throw invalid("csr.wire is required: the CSR as base64 DER (createCsr().wire) or PEM.");
  const wire = csr.wire
    .replace(/-----BEGIN [A-Z ]+-----/g, "")
    .replace(/-----END [A-Z ]+-----/g, "")
    .replace(/\s+/g, "");
  const verdict = await checkCsrFor(wire, {
    commonName: deviceId,
    commonNameRole: "device id",
    publicKey: csr.publicKey,
  });
  if (!verdict.valid) throw invalid(verdict.problem, verdict.cause);
  if (wire.length > 8192)
    throw invalid(`The CSR is ${wire.length} base64 characters; IoT Hub accepts at most 8192.`);
  return wire;
}

function checkReplace(replace: string | undefined): void {
  if (replace !== undefined && !/^(\*|[A-Za-z0-9](?:[A-Za-z0-9-]{2,34})[A-Za-z0-9])$/.test(replace)) {
    throw new HubError(
      "HUB_INVALID_OPTIONS",
      `replace must be "*" or a request id of 4–36 letters, digits and inner hyphens, got ${JSON.stringify(replace)}.`,
    );
  }
}
