import { SkittleError } from "@skittlesorter/core";

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
  | "SIM_ADMIN_REQUEST";

/** Thrown by `@skittlesorter/simulator`. Messages never contain key material. */
export class SimulatorError extends SkittleError<SimulatorErrorCode> {
  /** HTTP status of an admin API answer (`SIM_ADMIN_REQUEST`). */
  readonly statusCode: number | undefined;
  /** The admin API's own error code (`SIM_ADMIN_REQUEST`), e.g. `ENROLLMENT_NOT_FOUND`. */
  readonly errorCode: string | undefined;

  constructor(
    code: SimulatorErrorCode,
    message: string,
    options: { cause?: unknown; statusCode?: number; errorCode?: string } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.statusCode = options.statusCode;
    this.errorCode = options.errorCode;
  }
}
