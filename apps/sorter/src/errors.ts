import { errorGuard, SkittleError } from "@skittlesorter/core";

export type SorterErrorCode =
  | "CONFIG_NOT_FOUND"
  | "CONFIG_INVALID_JSON"
  | "CONFIG_INVALID"
  | "CREDENTIALS_INVALID"
  | "HUB_UNAUTHORIZED"
  | "HUB_TLS_UNTRUSTED"
  | "HUB_UNREACHABLE"
  | "HUB_SEND_FAILED"
  | "HUB_TIMEOUT"
  /** The hub refused to renew the certificate, or cannot (no certificate management): renew through DPS. */
  | "HUB_RENEWAL_REFUSED"
  | "HUB_CLOSED"
  | "OUTBOX_FAILED"
  | "HARDWARE_FAILED";

/** Errors of the sorter app; `code` says what failed, the message how to fix it. */
export class SorterError extends SkittleError<SorterErrorCode> {}

/** One thing wrong with the configuration: where, what, and how to fix it. */
export interface ConfigProblem {
  /** Dotted key path, e.g. `IoTHub.DpsProvisioning.IdScope` (or `(file)` for the file itself). */
  path: string;
  message: string;
  fix: string;
}

/** The configuration cannot be used; `problems` lists every problem found, not just the first. */
export class ConfigError extends SorterError {
  readonly problems: readonly ConfigProblem[];
  readonly file: string | undefined;

  constructor(
    code: Extract<SorterErrorCode, `CONFIG_${string}`>,
    file: string | undefined,
    problems: readonly ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    const where = file === undefined ? "the configuration" : file;
    const lines = problems.map((problem) => `  - ${problem.path}: ${problem.message} Fix: ${problem.fix}`);
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(code, `Invalid configuration in ${where} (${count}):\n${lines.join("\n")}`, options);
    this.problems = problems;
    this.file = file;
  }
}

/** True for a {@link ConfigError}, also across copies of this package. */
export const isConfigError = errorGuard<ConfigError>("ConfigError", "CONFIG_");

const isPlainSorterError = errorGuard<SorterError>("SorterError", [
  "CREDENTIALS_",
  "HUB_",
  "OUTBOX_",
  "HARDWARE_",
]);

/** True for a {@link SorterError}, including its subclass {@link ConfigError}, also across copies of this package. */
export const isSorterError = (value: unknown): value is SorterError =>
  isPlainSorterError(value) || isConfigError(value);

/** A short description of an unknown thrown value, safe to log (no stack, no key material). */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
