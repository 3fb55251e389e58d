import type { CliIo } from "@skittlesorter/cli-shell";
import type { Logger } from "@skittlesorter/core";

/**
 * The CLI's logger: warnings and errors always go to stderr, debug and info only with --verbose. Libraries
 * never hand it secrets, so fields are printed as they come.
 */
export function stderrLogger(io: CliIo, verbose: boolean): Logger {
  const write =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      const detail =
        fields === undefined
          ? ""
          : ` ${Object.entries(fields)
              .filter(([, value]) => value !== undefined)
              .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
              .join(" ")}`;
      io.stderr(`${level}: ${message}${detail}\n`);
    };
  const ignore = (): void => {};
  return {
    debug: verbose ? write("debug") : ignore,
    info: verbose ? write("info") : ignore,
    warn: write("warning"),
    error: write("error"),
  };
}
