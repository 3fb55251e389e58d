import { errorGuard, SkittleError } from "@skittlesorter/core";

/** Where a command writes. Tests pass buffers; a bin passes the process streams. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Working directory that relative paths resolve against. */
  cwd: string;
}

/** The process's own streams and working directory. Call it in a bin, never at import time of a library. */
export const processIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
});

export type ExitCode = 1 | 2;

/**
 * A failure that ends the command with a clear message and exit code 1 (or 2 for usage errors). `code` is the
 * command's own string (`USAGE`, `SIM_NOT_RUNNING`, …), printed as `error [CODE]: message`.
 */
export class CliError extends SkittleError<string> {
  readonly exitCode: ExitCode;

  constructor(code: string, message: string, options: { exitCode?: ExitCode; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.exitCode = options.exitCode ?? 1;
  }
}

/** True for a CliError, also across two installed copies of this package. */
export const isCliError = errorGuard<CliError>("CliError", "");

/** A usage error: exit code 2, code `USAGE`. */
export const usageError = (message: string): CliError => new CliError("USAGE", message, { exitCode: 2 });
