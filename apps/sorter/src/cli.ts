import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { type RunSummary, type SorterAppDeps, startSorterApp } from "./app.ts";
import { loadConfig, redactConfig } from "./config.ts";
import { describeError, isConfigError } from "./errors.ts";
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

/** The offline emulated-rig configuration shipped in the package (src/ and dist/ sit beside config/). */
const BUNDLED_EMULATED_CONFIG = fileURLToPath(
  new URL("../config/appsettings.emulated.json", import.meta.url),
);

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidArgumentError("expected a whole number of 1 or more.");
  return number;
}

/** `skittle-sorter run|check-config …`; resolves to the process exit code. */
export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const stdout = io.stdout ?? ((text: string) => process.stdout.write(text));
  const stderr = io.stderr ?? ((text: string) => process.stderr.write(text));
  const env = io.env ?? process.env;
  const signals = io.signals ?? process;
  const forceExit = io.forceExit ?? ((code: number) => process.exit(code));
  let exitCode = EXIT_OK;

  const program = new Command("skittle-sorter")
    .description(
      "Skittle sorter device app: DPS provisioning with CSR issuance, IoT Hub telemetry, the sorting loop.",
    )
    .version(SOFTWARE_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: stdout, writeErr: stderr });

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
      async (
        options: {
          config?: string;
          dataDir?: string;
          emulated?: boolean;
          skittles?: number;
          summaryJson?: string;
          logLevel: LogLevel;
          logJson?: boolean;
        },
        command: Command,
      ) => {
        const configFile =
          options.config ?? (options.emulated === true ? BUNDLED_EMULATED_CONFIG : undefined);
        if (configFile === undefined) {
          command.error(
            "error: required option '-c, --config <file>' not specified (or pass --emulated to run the bundled offline rig).",
          );
        }
        const logger =
          io.deps?.logger ??
          createConsoleLogger({
            level: options.logLevel,
            json: options.logJson,
            write: (line) => stderr(`${line}\n`),
          });
        const config = await loadConfig(configFile, {
          env,
          dataDir: options.dataDir,
          ...(options.emulated === true ? { emulated: true } : {}),
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
            forceExit(130);
          }
        };
        signals.on("SIGINT", onSignal);
        signals.on("SIGTERM", onSignal);
        try {
          const summary = await app.done;
          stdout(formatSummary(summary));
          if (options.summaryJson !== undefined) {
            await writeFile(resolve(options.summaryJson), `${JSON.stringify(summary, null, 2)}\n`);
          }
        } finally {
          signals.off("SIGINT", onSignal);
          signals.off("SIGTERM", onSignal);
        }
      },
    );

  program
    .command("check-config")
    .description("Validate a configuration and print it resolved (secrets hidden).")
    .requiredOption("-c, --config <file>", "appsettings.json")
    .option("-d, --data-dir <dir>", "data directory override")
    .option("--emulated", "as with run --emulated")
    .action(async (options: { config: string; dataDir?: string; emulated?: boolean }) => {
      const config = await loadConfig(options.config, {
        env,
        dataDir: options.dataDir,
        ...(options.emulated === true ? { emulated: true } : {}),
      });
      for (const warning of config.warnings) stderr(`warning: ${warning}\n`);
      stdout(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
    });

  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      exitCode = error.exitCode === 0 ? EXIT_OK : EXIT_CONFIG;
    } else if (isConfigError(error)) {
      stderr(`${error.message}\n`);
      exitCode = EXIT_CONFIG;
    } else {
      stderr(`skittle-sorter: ${redact(describeError(error))}\n`);
      exitCode = EXIT_FAILURE;
    }
  }
  return exitCode;
}

/** The end-of-run summary as people read it. */
export function formatSummary(summary: RunSummary): string {
  const lines = ["", "Skittle sorter summary"];
  if (summary.deviceId !== undefined)
    lines.push(`  device:       ${summary.deviceId} on ${summary.assignedHub ?? "?"}`);
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
