// What every `skittle-sim` command group shares: the global options, output, the admin client, small parsers.
import { readFile } from "node:fs/promises";
import type { CliIo, Command } from "@skittlesorter/cli-shell";
import type { Logger } from "@skittlesorter/core";
import { InvalidArgumentError } from "commander";
import { AdminClient, dataDirOf } from "../admin/client.ts";
import { SimulatorError } from "../errors.ts";

export interface Globals {
  dataDir: string;
  json?: boolean;
  showSecrets?: boolean;
}

export const SHOW_SECRETS =
  "include keys (enrollment keys, derived device keys) in the output; off by default";

export const LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type Level = (typeof LEVELS)[number];

/** Adds the options every command has: `--data-dir` (required) and `--json`. */
export function withGlobals(command: Command): Command {
  return command
    .requiredOption(
      "--data-dir <dir>",
      "the simulator's data directory (or the sim.json in it, as `skittle --sim` takes)",
      dataDirOf,
    )
    .option("--json", "print JSON");
}

/** Output and the admin client of the simulator a command names with `--data-dir`. */
export function helpers(io: CliIo): {
  print(globals: Globals, json: unknown, human: string): void;
  client(globals: Globals): Promise<AdminClient>;
} {
  return {
    print(globals, json, human) {
      io.stdout(globals.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
    },
    client: (globals) => AdminClient.fromDataDir(globals.dataDir),
  };
}

/** `?includeSecrets=true` when the user passed `--show-secrets`. */
export function secretsQuery(options: Globals): string {
  return options.showSecrets ? "?includeSecrets=true" : "";
}

export function port(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65535) {
    throw new InvalidArgumentError("expected a port number 0-65535 (0 = any free port).");
  }
  return parsed;
}

export function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected a whole number >= 0.");
  return Number(value);
}

export function positiveNumber(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError("expected a whole number >= 1.");
  return Number(value);
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, index) => cell.padEnd(widths[index] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export async function readPem(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new SimulatorError("SIM_INVALID_OPTION", `Cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export function stderrLogger(io: CliIo, level: Level): Logger {
  const rank = LEVELS.indexOf(level);
  const line =
    (name: Exclude<Level, "silent">) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (LEVELS.indexOf(name) < rank) return;
      const extra =
        fields === undefined || Object.keys(fields).length === 0 ? "" : ` ${JSON.stringify(fields)}`;
      io.stderr(`${new Date().toISOString()} ${name.toUpperCase()} ${message}${extra}\n`);
    };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}
