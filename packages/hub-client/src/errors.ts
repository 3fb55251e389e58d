import { errorGuard, SkittleError } from "@skittlesorter/core";

export type HubClientErrorCode =
  /** The credentials, options or message are unusable (missing host name, empty key, bad PEM…). */
  | "HUB_INVALID_OPTION"
  /** The hub refused the device's credentials: CONNACK "not authorized" / "bad user name or password",
   * a TLS alert about the client certificate, an unknown or disabled device. */
  | "HUB_UNAUTHORIZED"
  /** The hub's TLS certificate does not verify against the trusted roots (`ca`, or the system's). */
  | "HUB_TLS_UNTRUSTED"
  /** The hub cannot be reached, or the connection was lost. */
  | "HUB_UNREACHABLE"
  /** No answer (CONNACK, PUBACK, twin response) within the configured time. */
  | "HUB_TIMEOUT"
  /** The hub throttled the device or its quota is used up. */
  | "HUB_THROTTLED"
  /** The hub answered a request with an error (a twin patch it refused, a message too large…). */
  | "HUB_REJECTED"
  /** The connection was closed by `close()`; open a new one. */
  | "HUB_CLOSED"
  /** Anything the client could not classify; `cause` has the original error. */
  | "HUB_FAILED";

export interface HubClientErrorDetails {
  cause?: unknown;
  /** The hub's host name (`{name}.azure-devices.net`, or `host:port`). */
  hostName?: string | undefined;
  deviceId?: string | undefined;
  /**
   * What the transport reported, when it said more than a message: a Node error code (`ECONNREFUSED`,
   * `CERT_HAS_EXPIRED`), an MQTT CONNACK return code (`CONNACK 5`), the official SDK's error class
   * (`ThrottlingError`) or `@skittlesorter/hub-mqtt`'s error code (`HUB_RENEWAL_UNSUPPORTED`).
   */
  reason?: string | undefined;
  /** The status of the hub's answer to a request (e.g. 409), when it answered with one. */
  statusCode?: number | undefined;
  /** The hub's `errorCode` from the answer's body (e.g. 409004), when it sent one. */
  errorCode?: number | undefined;
  /** The hub's `trackingId` for the answer, for support. */
  trackingId?: string | undefined;
}

/** Every error a hub connection rejects with (except an abort, which rejects with `signal.reason`). */
export class HubClientError extends SkittleError<HubClientErrorCode> {
  readonly hostName: string | undefined;
  readonly deviceId: string | undefined;
  readonly reason: string | undefined;
  readonly statusCode: number | undefined;
  readonly errorCode: number | undefined;
  readonly trackingId: string | undefined;

  constructor(code: HubClientErrorCode, message: string, details: HubClientErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.hostName = details.hostName;
    this.deviceId = details.deviceId;
    this.reason = details.reason;
    this.statusCode = details.statusCode;
    this.errorCode = details.errorCode;
    this.trackingId = details.trackingId;
  }
}

export const isHubClientError = errorGuard<HubClientError>("HubClientError", "HUB_");
