// The sorter's side of the IoT Hub connection: @skittlesorter/hub-client connects; this glue hands it the device's
// issued certificate and turns its errors into SorterErrors that say what to change in the sorter's configuration.
import type { OperationOptions } from "@skittlesorter/core";
import {
  type HubConnection as ClientConnection,
  type HubConnector as ClientConnector,
  type HubClientError,
  type HubClientErrorCode,
  isHubClientError,
  type RenewCertificate,
} from "@skittlesorter/hub-client";
import type { DeviceCredentials } from "./credentials.ts";
import { SorterError, type SorterErrorCode } from "./errors.ts";

export type {
  DesiredListener,
  HubMessage,
  MethodHandler,
  MethodResult,
  RenewalCsr,
  RenewCertificate,
  RenewedCertificate,
} from "@skittlesorter/hub-client";

/** A hub connection whose failures are {@link SorterError}s. */
export interface HubConnection extends Omit<ClientConnection, "onDisconnect"> {
  /** The connection broke (the hub went away, or refused the certificate). */
  onDisconnect(listener: (error: SorterError) => void): () => void;
  /**
   * Present when the client can renew the certificate through the hub (`IoTHub.Client: "hub-mqtt"`). Rejects with
   * `HUB_RENEWAL_REFUSED` when the hub refused or has no certificate management (renew through DPS then); with
   * another code when it is worth trying again later.
   */
  readonly renewCertificate?: RenewCertificate | undefined;
}

/** Opens hub connections with the device's issued certificate. */
export interface HubConnector {
  connect(credentials: DeviceCredentials, options?: OperationOptions): Promise<HubConnection>;
}

const SORTER_CODES: Record<HubClientErrorCode, SorterErrorCode> = {
  HUB_UNAUTHORIZED: "HUB_UNAUTHORIZED",
  HUB_TLS_UNTRUSTED: "HUB_TLS_UNTRUSTED",
  HUB_TIMEOUT: "HUB_TIMEOUT",
  HUB_CLOSED: "HUB_CLOSED",
  HUB_UNREACHABLE: "HUB_UNREACHABLE",
  HUB_THROTTLED: "HUB_UNREACHABLE",
  HUB_FAILED: "HUB_UNREACHABLE",
  HUB_REJECTED: "HUB_SEND_FAILED",
  HUB_INVALID_OPTION: "HUB_SEND_FAILED",
};

const SORTER_FIXES: Partial<Record<SorterErrorCode, string>> = {
  HUB_UNAUTHORIZED: "The sorter provisions again.",
  HUB_TLS_UNTRUSTED:
    "For a local simulator set Certificates.TrustedCaFile to its trustedCaFile; for Azure keep the system roots up to date.",
  HUB_UNREACHABLE: "Telemetry stays in the outbox and is sent when the hub is back.",
};

/** A hub-client error as the sorter reports it; anything else (an abort's reason) passes unchanged. */
export function toSorterError(error: HubClientError): SorterError;
export function toSorterError(error: unknown): unknown;
export function toSorterError(error: unknown): unknown {
  if (!isHubClientError(error)) return error;
  const code = SORTER_CODES[error.code];
  const fix = SORTER_FIXES[code];
  return new SorterError(code, fix === undefined ? error.message : `${error.message} ${fix}`, {
    cause: error,
  });
}

/**
 * Final answers to a renewal (the hub refused the CSR, has no certificate management, or refused the device) are
 * `HUB_RENEWAL_REFUSED`: asking again will not help, DPS will. The rest (unreachable, timeout, throttled) is
 * transient.
 */
const RENEWAL_REFUSALS: ReadonlySet<HubClientErrorCode> = new Set([
  "HUB_REJECTED",
  "HUB_INVALID_OPTION",
  "HUB_UNAUTHORIZED",
]);

function toRenewalError(error: unknown): unknown {
  if (!isHubClientError(error) || !RENEWAL_REFUSALS.has(error.code)) return toSorterError(error);
  const reason = error.reason === undefined ? "" : ` (${error.reason})`;
  return new SorterError(
    "HUB_RENEWAL_REFUSED",
    `The hub did not renew the certificate${reason}: ${error.message} The sorter provisions through DPS instead.`,
    { cause: error },
  );
}

const sorterErrors =
  <A extends unknown[], R>(operation: (...args: A) => Promise<R>) =>
  async (...args: A): Promise<R> => {
    try {
      return await operation(...args);
    } catch (error) {
      throw toSorterError(error);
    }
  };

/** The sorter's connector over any hub-client connector (the official SDK's, or a `MemoryHub` in tests). */
export function sorterHubConnector(connector: ClientConnector): HubConnector {
  return {
    connect: sorterErrors(async (credentials: DeviceCredentials, options?: OperationOptions) => {
      const connection = await connector.connect(
        {
          type: "x509",
          hostName: credentials.assignedHub,
          deviceId: credentials.deviceId,
          certificatePem: credentials.chainPem,
          privateKeyPem: credentials.privateKeyPem,
        },
        options,
      );
      return {
        deviceId: connection.deviceId,
        send: sorterErrors(connection.send.bind(connection)),
        reportTwin: sorterErrors(connection.reportTwin.bind(connection)),
        onDesired: (listener) => connection.onDesired(listener),
        onMethod: (name, handler) => connection.onMethod(name, handler),
        onDisconnect: (listener) => connection.onDisconnect((error) => listener(toSorterError(error))),
        close: () => connection.close(),
        renewCertificate: connection.renewCertificate && renewingWith(connection.renewCertificate),
      };
    }),
  };
}

function renewingWith(renew: RenewCertificate): RenewCertificate {
  return async (csr, options) => {
    try {
      return await renew(csr, options);
    } catch (error) {
      throw toRenewalError(error);
    }
  };
}
