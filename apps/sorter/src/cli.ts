import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  buildProgram,
  CliError,
  type CommandGroup,
  isCliError,
  runProgram,
  type CliIo as ShellIo,
  usageError,
} from "@skittlesorter/cli-shell";
import { CommanderError, InvalidArgumentError, Option } from "commander";
import { type RunSummary, type SorterAppDeps, startSorterApp } from "./app.ts";
import { BUNDLED_EMULATED_CONFIG, loadConfig, redactConfig } from "./config/index.ts";
import { isConfigError } from "./errors.ts";
import { createConsoleLogger, type LogLevel, redact } from "./logging.ts";
import { SOFTWARE_VERSION } from "./version.ts";

/** Exit codes: 0 success, 1 runtime failure, 2 configuration or usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;

export interface SignalSource {
  on(signal: "SIGINT" | "SIGTERM", listener: () => void): unknown;
  off(signal: "SIGINT" | "SIGTERM", listener: () => void): unknown;
}

/** The process edges `main` uses; tests replace them. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  signals: SignalSource;
  /** Called on a second SIGINT/SIGTERM (no graceful stop). Default: process.exit. */
  forceExit: (code: number) => void;
  /** Extra dependencies for the app (tests: hub connector, provisioner, clock). */
  deps: SorterAppDeps;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidArgumentError("expected a whole number of 1 or more.");
  return number;
}

/**
 * The shell prints failures as `error [CODE]: message`; configuration problems exit 2 like usage errors, everything
 * else 1, and a message never carries a secret.
 */
function asCliError(error: unknown): unknown {
  if (isCliError(error) || error instanceof CommanderError) return error;
  const coded = (error as { code?: unknown } | undefined)?.code;
  const code = typeof coded === "string" ? coded : "UNEXPECTED";
  const message = redact(error instanceof Error ? error.message : String(error));
  return new CliError(code, message, {
    exitCode: isConfigError(error) ? EXIT_CONFIG : EXIT_FAILURE,
    cause: error,
  });
}

function reportingFailures<Args extends unknown[]>(
  action: (...args: Args) => Promise<void>,
): (...args: Args) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (error) {
      throw asCliError(error);
    }
  };
}

interface RunOptions {
  config?: string | undefined;
  dataDir?: string | undefined;
  emulated?: boolean | undefined;
  skittles?: number | undefined;
  summaryJson?: string | undefined;
  logLevel: LogLevel;
  logJson?: boolean | undefined;
}

/** `skittle-sorter run`: provision, connect and sort until stopped by a signal or the skittle count. */
function runCommand(io: CliIo): CommandGroup {
  return (program) => {
    program
      .command("run")
      .description("Provision (or reuse the stored certificate), connect to IoT Hub and sort until stopped.")
      .option(
        "-c, --config <file>",
        "appsettings.json (see config/*.template.json); with --emulated, default: the bundled offline rig",
      )
      .option(
        "-d, --data-dir <dir>",
        "where certificates and the telemetry outbox live (default: DataDir, else $STATE_DIRECTORY, else ./data next to the config)",
      )
      .option("--emulated", "use the emulated rig instead of the real sensor and servos")
      .option(
        "-n, --skittles <count>",
        "stop after this many skittles (emulated: the hopper holds this many)",
        positiveInteger,
      )
      .option("--summary-json <file>", "also write the end-of-run summary as JSON")
      .addOption(
        new Option("--log-level <level>", "log detail")
          .choices(["debug", "info", "warn", "error"])
          .default("info"),
      )
      .option("--log-json", "log one JSON object per line")
      .action(
        reportingFailures(async (options: RunOptions) => {
          const configFile =
            options.config ?? (options.emulated === true ? BUNDLED_EMULATED_CONFIG : undefined);
          if (configFile === undefined) {
            throw usageError(
              "required option '-c, --config <file>' not specified (or pass --emulated to run the bundled offline rig).",
            );
          }
          await run(configFile, options, io);
        }),
      );
  };
}

async function run(configFile: string, options: RunOptions, io: CliIo): Promise<void> {
  const logger =
    io.deps.logger ??
    createConsoleLogger({
      level: options.logLevel,
      json: options.logJson,
      write: (line) => io.stderr(`${line}\n`),
    });
  const config = await loadConfig(configFile, {
    env: io.env,
    dataDir: options.dataDir,
    emulated: options.emulated,
    skittles: options.skittles,
  });
  logger.info("starting", {
    version: SOFTWARE_VERSION,
    config: config.file,
    dataDir: config.dataDir,
    hardware: config.emulated ? "emulated rig" : "real",
    telemetry: config.telemetry.enabled,
  });
  const app = await startSorterApp(config, { ...io.deps, logger, maxSkittles: options.skittles });
  let signalled = 0;
  const onSignal = (): void => {
    signalled += 1;
    if (signalled === 1) {
      logger.info(
        "signal received: finishing the skittle in hand, then parking, flushing and disconnecting (signal again to force)",
      );
      void app.stop();
    } else {
      logger.error("second signal: exiting without finishing");
      io.forceExit(130);
    }
  };
  io.signals.on("SIGINT", onSignal);
  io.signals.on("SIGTERM", onSignal);
  try {
    const summary = await app.done;
    io.stdout(formatSummary(summary));
    if (options.summaryJson !== undefined) {
      await writeFile(resolve(options.summaryJson), `${JSON.stringify(summary, null, 2)}\n`);
    }
  } finally {
    io.signals.off("SIGINT", onSignal);
    io.signals.off("SIGTERM", onSignal);
  }
}

/** `skittle-sorter check-config`: validate a configuration and print it resolved. */
function checkConfigCommand(io: CliIo): CommandGroup {
  return (program) => {
    program
      .command("check-config")
      .description("Validate a configuration and print it resolved (secrets hidden).")
      .requiredOption("-c, --config <file>", "appsettings.json")
      .option("-d, --data-dir <dir>", "data directory override")
      .option("--emulated", "as with run --emulated")
      .action(
        reportingFailures(async (options: { config: string; dataDir?: string; emulated?: boolean }) => {
          const config = await loadConfig(options.config, {
            env: io.env,
            dataDir: options.dataDir,
            emulated: options.emulated,
          });
          for (const warning of config.warnings) io.stderr(`warning: ${warning}\n`);
          io.stdout(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
        }),
      );
  };
}

/** `skittle-sorter run|check-config …`; resolves to the process exit code. */
export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = {
    stdout: io.stdout ?? ((text: string) => process.stdout.write(text)),
    stderr: io.stderr ?? ((text: string) => process.stderr.write(text)),
    env: io.env ?? process.env,
    signals: io.signals ?? process,
    forceExit: io.forceExit ?? ((code: number) => process.exit(code)),
    deps: io.deps ?? {},
  };
  const shellIo: ShellIo = { stdout: full.stdout, stderr: full.stderr, cwd: process.cwd() };
  const program = buildProgram({
    name: "skittle-sorter",
    description:
      "Skittle sorter device app: DPS provisioning with CSR issuance, IoT Hub telemetry, the sorting loop.",
    version: SOFTWARE_VERSION,
    io: shellIo,
    groups: [runCommand(full), checkConfigCommand(full)],
  });
  return runProgram(program, argv, shellIo);
}

/** The end-of-run summary as people read it. */
export function formatSummary(summary: RunSummary): string {
  const lines = ["", "Skittle sorter summary"];
  if (summary.deviceId !== undefined)
    lines.push(
      `  device:       ${summary.deviceId} on ${summary.assignedHub ?? "?"}` +
        (summary.hubClient === undefined ? "" : ` (through ${summary.hubClient})`),
    );
  if (summary.certificate !== undefined) {
    const source = summary.credentialsSource === "stored" ? "stored certificate reused" : "newly provisioned";
    lines.push(
      `  certificate:  ${summary.certificate.subject}, valid until ${summary.certificate.notAfter} (${source})`,
    );
  }
  const colors = Object.entries(summary.sorting.byColor)
    .map(([color, count]) => `${color} ${count}`)
    .join(", ");
  lines.push(`  sorted:       ${summary.sorting.sorted}${colors === "" ? "" : ` (${colors})`}`);
  if (summary.rig !== undefined) {
    lines.push(
      `  accuracy:     ${(summary.rig.accuracy * 100).toFixed(1)}% (${summary.rig.correct} of ${summary.rig.sorted} in the right bin)`,
    );
    lines.push(`  speed:        ${summary.rig.skittlesPerMinute.toFixed(1)} skittles/minute`);
  }
  if (summary.telemetry !== undefined) {
    const t = summary.telemetry;
    lines.push(
      `  telemetry:    ${t.queued} queued, ${t.delivered} delivered, ${t.pending} pending in the outbox, ${t.dropped} dropped`,
    );
  } else {
    lines.push("  telemetry:    off (IoTHub.SendTelemetry is false)");
  }
  lines.push(`  stopped:      ${summary.stopReason}`, "");
  return lines.join("\n");
}
