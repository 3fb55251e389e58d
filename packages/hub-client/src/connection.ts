import type { KeyObject } from "node:crypto";
import type { OperationOptions } from "@skittlesorter/core";
import { HubClientError, type HubClientErrorCode } from "./errors.ts";

/** A device that authenticates with its X.509 certificate (CA-signed or self-signed thumbprint). */
export interface X509HubCredentials {
  type: "x509";
  /** The hub's host name: `{name}.azure-devices.net` (DPS `assignedHub`), or `host:port` for a local hub. */
  hostName: string;
  deviceId: string;
  /** PEM: the device certificate first, then its issuing CA(s). */
  certificatePem: string;
  /** PEM private key of the certificate. Secret: never logged. */
  privateKeyPem: string;
}

/** A device that authenticates with a SAS token signed by its symmetric key. */
export interface SasHubCredentials {
  type: "sas";
  hostName: string;
  deviceId: string;
  /** The device's symmetric key, base64. Secret: never logged. */
  sharedAccessKey: string;
}

export type HubCredentials = X509HubCredentials | SasHubCredentials;

/** One device-to-cloud (telemetry) message. */
export interface HubMessage {
  /** UTF-8 text, or bytes as they are. */
  body: string | Uint8Array;
  /** System properties (`$.mid`, `$.cid`, `$.ct`, `$.ce`). */
  messageId?: string | undefined;
  correlationId?: string | undefined;
  /** E.g. `application/json`; with `contentEncoding` it lets IoT Hub route on the body. */
  contentType?: string | undefined;
  /** E.g. `utf-8`. */
  contentEncoding?: string | undefined;
  /** Application properties (e.g. `colorAlert`), routable by the hub. */
  properties?: Readonly<Record<string, string>> | undefined;
}

/** A device's answer to a direct method. */
export interface MethodResult {
  /** HTTP-like status, e.g. 200. */
  status: number;
  /** Any JSON value; `{}` when omitted. */
  payload?: unknown;
}

/** Answers one direct method. A handler that throws answers 500 with `{ error: message }`. */
export type MethodHandler = (payload: unknown) => MethodResult | Promise<MethodResult>;

/** Desired properties as a JSON merge patch, without the twin's `$version` and `$metadata`. */
export type DesiredListener = (patch: Record<string, unknown>) => void;

/** The CSR a certificate renewal sends, and the public key the issued certificate must carry. */
export interface RenewalCsr {
  /** The PKCS#10 CSR as base64 DER (`createCsr(deviceId, keyPair).wire`) or PEM; its CN must be the device id. */
  wire: string;
  /** The public key of the key pair the CSR was made with. */
  publicKey: KeyObject;
}

export interface RenewCertificateOptions extends OperationOptions {
  /** `"*"` or the id of a pending request: cancel that request on the hub and start this one. */
  replace?: string | undefined;
}

/** A certificate the hub issued, checked against the CSR (leaf CN = device id, leaf key = CSR key, chain verifies). */
export interface RenewedCertificate {
  /** PEM, the new device certificate first, then its issuing CA(s): the next `certificatePem` of the credentials. */
  certificatePem: string;
  /** The leaf's expiry. */
  notAfter: Date;
  /** The hub's id of the request, for support. */
  requestId: string;
  correlationId: string | undefined;
}

/**
 * Renews the device's X.509 certificate through the hub (`$iothub/credentials`, Azure certificate management).
 * The live connection is not touched: connect with the new certificate and its key afterwards.
 */
export type RenewCertificate = (
  csr: RenewalCsr,
  options?: RenewCertificateOptions,
) => Promise<RenewedCertificate>;

/** A live connection of one device to its IoT Hub. */
export interface HubConnection {
  readonly deviceId: string;
  /** Sends telemetry with QoS 1; resolves once the hub acknowledged it (PUBACK). */
  send(message: HubMessage, options?: OperationOptions): Promise<void>;
  /** Merges `patch` into the twin's reported properties (JSON merge patch: `null` removes a key). */
  reportTwin(patch: Record<string, unknown>, options?: OperationOptions): Promise<void>;
  /** Desired-property changes; the first call after connecting also delivers the current desired properties. */
  onDesired(listener: DesiredListener): () => void;
  /** Answers direct method `name` (a later handler for the same name replaces the earlier one). */
  onMethod(name: string, handler: MethodHandler): void;
  /**
   * The connection broke (the hub went away, or refused the device); called at most once, never after `close()`.
   * Operations still waiting for an answer reject then, without waiting for their timeout.
   */
  onDisconnect(listener: (error: HubClientError) => void): () => void;
  /** Disconnects. Idempotent; operations still waiting, and later ones, reject with `HUB_CLOSED`. */
  close(): Promise<void>;
  /**
   * Present when the connector can renew the certificate through the hub (feature-detect:
   * `if (connection.renewCertificate) …`). It may still reject when this hub has no certificate management.
   */
  readonly renewCertificate?: RenewCertificate | undefined;
}

/** Opens device connections to IoT Hub. */
export interface HubConnector {
  connect(credentials: HubCredentials, options?: OperationOptions): Promise<HubConnection>;
}

const invalid = (message: string): HubClientError => new HubClientError("HUB_INVALID_OPTION", message);

/** Throws `HUB_INVALID_OPTION` naming the first unusable field. */
export function checkCredentials(credentials: HubCredentials): void {
  const text = (value: unknown, field: string, fix: string): void => {
    if (typeof value !== "string" || value.trim() === "")
      throw invalid(`credentials.${field} is empty: ${fix}`);
  };
  text(
    credentials.hostName,
    "hostName",
    "pass the hub's host name (DPS assignedHub), e.g. my-hub.azure-devices.net",
  );
  text(credentials.deviceId, "deviceId", "pass the device id the hub knows the device by");
  if (/[;=]/.test(credentials.hostName) || /[;=]/.test(credentials.deviceId)) {
    throw invalid('credentials.hostName and credentials.deviceId may not contain ";" or "="');
  }
  if (credentials.type === "x509") {
    text(credentials.certificatePem, "certificatePem", "pass the device certificate (PEM, leaf first)");
    text(credentials.privateKeyPem, "privateKeyPem", "pass the certificate's private key (PEM)");
  } else if (credentials.type === "sas") {
    text(credentials.sharedAccessKey, "sharedAccessKey", "pass the device's symmetric key (base64)");
  } else {
    throw invalid(
      `credentials.type must be "x509" or "sas", got ${JSON.stringify((credentials as { type?: unknown }).type)}`,
    );
  }
}

/** `HUB_CLOSED` for an operation on a closed connection. */
export function closedError(deviceId: string): HubClientError {
  return new HubClientError("HUB_CLOSED", `The hub connection of "${deviceId}" was closed; open a new one.`, {
    deviceId,
  });
}

/**
 * Settles like `operation`, or rejects with `signal.reason` when aborted first, or with `timeoutError()` after
 * `timeoutMs`. Leaves no timer or listener behind.
 */
export async function bounded<T>(
  operation: Promise<T>,
  options: { timeoutMs: number; signal?: AbortSignal | undefined; timeoutError: () => Error },
): Promise<T> {
  const { signal } = options;
  signal?.throwIfAborted();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      operation,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(options.timeoutError()), options.timeoutMs);
        onAbort = () => reject(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
}

export function hubError(
  code: HubClientErrorCode,
  message: string,
  credentials: Pick<HubCredentials, "hostName" | "deviceId">,
  details: { cause?: unknown; reason?: string | undefined } = {},
): HubClientError {
  return new HubClientError(code, message, {
    ...details,
    hostName: credentials.hostName,
    deviceId: credentials.deviceId,
  });
}
