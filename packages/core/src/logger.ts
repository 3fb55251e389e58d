/** Structured fields attached to a log line. Never put secrets in them. */
export type LogFields = Record<string, unknown>;

/** The logger every library accepts. Apps choose the sink; libraries default to {@link noopLogger}. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const ignore = (): void => {};

export const noopLogger: Logger = Object.freeze({ debug: ignore, info: ignore, warn: ignore, error: ignore });
