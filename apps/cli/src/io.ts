/** Where a command writes. Tests pass buffers; the bin passes the process streams. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Working directory that relative paths resolve against. */
  cwd: string;
}

export const processIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
});

/** A failure that should end the command with exit code 1 (or 2 for usage errors) and a clear message. */
export class CliError extends Error {
  readonly exitCode: 1 | 2;
  readonly code: string;

  constructor(code: string, message: string, options: { exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "CliError";
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}

export const usageError = (message: string): CliError => new CliError("USAGE", message, { exitCode: 2 });
