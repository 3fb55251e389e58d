import { errorGuard, SkittleError } from "@skittlesorter/core";

/** Every code a {@link SimulatorError} can carry. */
export type SimulatorErrorCode =
  /** The data directory cannot be created or used. */
  | "SIM_DATA_DIR"
  /** A listening port is taken or cannot be bound. */
  | "SIM_LISTEN_FAILED"
  /** Starting failed for another reason (the message says which). */
  | "SIM_START_FAILED"
  /** The embedded database cannot be opened or migrated. */
  | "SIM_STORE"
  /** An option passed to `startSimulator` or the CLI is invalid. */
  | "SIM_INVALID_OPTION"
  /** No running simulator was found for a data directory (no readable `sim.json`, or it does not answer). */
  | "SIM_NOT_RUNNING"
  /** The admin API answered a request with an error; `statusCode` and `errorCode` carry its answer. */
  | "SIM_ADMIN_REQUEST"
  /** A request to a simulated service is invalid (bad body, patch, value); `errorCode` says which rule. */
  | "SIM_INVALID_REQUEST"
  /** What a request names (device, enrollment, CA…) does not exist; `errorCode` says what. */
  | "SIM_NOT_FOUND"
  /** The request conflicts with the current state (already exists, in use). */
  | "SIM_CONFLICT"
  /** An `If-Match` etag no longer matches. */
  | "SIM_PRECONDITION_FAILED"
  /** The device is not connected (or not subscribed) for what was asked of it. */
  | "SIM_DEVICE_NOT_ONLINE"
  /** The device did not answer in time. */
  | "SIM_TIMEOUT"
  /** A service limit is reached (e.g. a device's cloud-to-device queue is full). */
  | "SIM_LIMIT_EXCEEDED";

/** Thrown by `@skittlesorter/simulator`. Messages never contain key material. */
export class SimulatorError extends SkittleError<SimulatorErrorCode> {
  /** HTTP status of an admin API answer (`SIM_ADMIN_REQUEST`). */
  readonly statusCode: number | undefined;
  /**
   * The service's own error code, as the admin API answers it (e.g. `ENROLLMENT_NOT_FOUND`): on `SIM_ADMIN_REQUEST`
   * the API's answer, on the domain codes (`SIM_NOT_FOUND`, …) what the API will answer.
   */
  readonly errorCode: string | undefined;

  constructor(
    code: SimulatorErrorCode,
    message: string,
    options: { cause?: unknown; statusCode?: number | undefined; errorCode?: string | undefined } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.statusCode = options.statusCode;
    this.errorCode = options.errorCode;
  }
}

/** True for a {@link SimulatorError}, also across two installed copies of the package. */
export const isSimulatorError = errorGuard<SimulatorError>("SimulatorError", "SIM_");

/** A domain error of a simulated service: `code` is the kind, `errorCode` what the admin API answers. */
export function serviceError(code: SimulatorErrorCode, errorCode: string, message: string): SimulatorError {
  return new SimulatorError(code, message, { errorCode });
}
