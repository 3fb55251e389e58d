import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { CliError, type CliIo, type CommandGroup, usageError } from "@skittlesorter/cli-shell";
import { isKeyType, KEY_TYPES, type KeyType } from "@skittlesorter/csr";
import {
  type FleetOptions,
  type FleetReport,
  isFleetError,
  type Percentiles,
  runFleet,
} from "@skittlesorter/fleet";
import { readSimFile, simDps } from "../../sim-file.ts";
import { progressBar } from "./progress.ts";

interface FleetCliOptions {
  sim?: string;
  host?: string;
  port?: string;
  websocket?: boolean;
  idScope?: string;
  groupKey?: string;
  ca?: string;
  devices?: string;
  concurrency?: string;
  prefix?: string;
  csr?: boolean;
  csrKeyType?: string;
  telemetry?: string;
  timeoutSeconds?: string;
  maxRetryAfterMs?: string;
  progress?: boolean;
  json?: boolean;
}

/** Registers `skittle fleet`. */
export const fleetCommands: CommandGroup = (program, context) => {
  const command = program
    .command("fleet")
    .description(
      "Load-test DPS (a real instance or skittle-sim): provision N devices from an enrollment-group key, C at a " +
        "time, optionally with a fresh key and CSR each, then optionally send M telemetry messages per device " +
        "through the assigned IoT Hub (QoS 1, official azure-iot-device client). Reports throughput, latency " +
        "percentiles, errors by code and retries. Exit 0 when every device and message succeeded, 1 otherwise.",
    )
    .option(
      "--sim <file>",
      "sim.json of a running skittle-sim (or its data directory): DPS host, port, id scope, TLS root, group key",
    )
    .option("--host <host>", "DPS host, e.g. global.azure-devices-provisioning.net")
    .option("--port <n>", "DPS port (default 8883, or 443 with --websocket)")
    .option("--websocket", "MQTT over WebSocket (wss) to DPS")
    .option("--id-scope <scope>", "ID scope of the DPS instance")
    .option("--group-key <base64>", "symmetric-key enrollment group's key (device keys are derived from it)")
    .option("--ca <file>", "root CA (PEM) of DPS's and the hub's TLS certificates; default: system roots")
    .option("--devices <n>", "number of devices to provision")
    .option("--concurrency <n>", "devices provisioned (and connected to the hub) at once", "10")
    .option("--prefix <text>", "registration id prefix; ids are {prefix}{zero-padded index}", "fleet-")
    .option("--csr", "generate an EC P-384 key and a CSR per device; DPS issues its certificate")
    .option("--csr-key-type <type>", `key type for the CSRs (${KEY_TYPES.join(", ")}); implies --csr`)
    .option("--telemetry <m>", "telemetry messages per device through the assigned hub (QoS 1)", "0")
    .option("--timeout-seconds <n>", "deadline of one device's provisioning, retries included", "300")
    .option(
      "--max-retry-after-ms <ms>",
      "cap DPS retry-after (e.g. 0 to poll at once when load-testing a simulator); default: honour it",
    )
    .option("--no-progress", "no progress bar (it is only drawn when stderr is a terminal)")
    .option("--json", "print the report as JSON")
    .action(async (options: FleetCliOptions) => {
      const { io } = context(command);
      const fleetOptions = await fleetOptionsFrom(options, io);

      const bar =
        options.progress !== false && process.stderr.isTTY === true
          ? progressBar((text) => process.stderr.write(text))
          : undefined;
      const controller = new AbortController();
      const interrupt = (): void => controller.abort(new Error("interrupted"));
      process.once("SIGINT", interrupt);
      let report: FleetReport;
      try {
        report = await runFleet({
          ...fleetOptions,
          signal: controller.signal,
          ...(bar === undefined ? {} : { onProgress: (progress) => bar.update(progress) }),
        });
      } catch (error) {
        throw isFleetError(error) ? usageError(error.message) : error;
      } finally {
        process.removeListener("SIGINT", interrupt);
        bar?.done();
      }
      context(command).print(report, formatFleetReport(report));

      const failures = report.errors.reduce((total, group) => total + group.count, 0);
      const notDone = report.provisioning.skipped + (report.telemetry?.notSent ?? 0);
      if (failures > 0 || notDone > 0) {
        throw new CliError(
          "FLEET_FAILURES",
          `${report.provisioning.failed} of ${report.devices} devices failed to provision` +
            (report.telemetry === null
              ? ""
              : `, ${report.telemetry.connectFailed} failed to connect, ${report.telemetry.failed} messages failed`) +
            (notDone > 0 ? `, ${notDone} not attempted (interrupted or not connected)` : "") +
            "; see the errors above",
        );
      }
    });
};

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw usageError(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

async function fleetOptionsFrom(options: FleetCliOptions, io: CliIo): Promise<FleetOptions> {
  let host = options.host;
  let idScope = options.idScope;
  let groupKey = options.groupKey;
  let port: number | undefined;
  let ca: string | undefined;
  if (options.sim !== undefined) {
    const sim = await simDps(await readSimFile(resolve(io.cwd, options.sim)));
    host ??= sim.host;
    idScope ??= sim.idScope;
    groupKey ??= sim.groupKey;
    port = options.websocket === true ? sim.wsPort : sim.port;
    ca = sim.ca;
  }
  if (host === undefined || idScope === undefined) {
    throw usageError(
      "say where DPS is: pass --host H --id-scope S --group-key K, or --sim DIR (the data directory of a running skittle-sim)",
    );
  }
  if (groupKey === undefined) {
    throw usageError(
      "pass --group-key K (the symmetric-key enrollment group's primary key); device keys are derived from it",
    );
  }
  if (options.devices === undefined) {
    throw usageError("pass --devices N, the number of devices to provision");
  }
  if (options.port !== undefined) port = wholeNumber("--port", options.port, 1, 65_535);
  if (options.ca !== undefined) ca = await readFile(resolve(io.cwd, options.ca), "utf8");

  let csrKeyType: KeyType | undefined;
  if (options.csrKeyType !== undefined) {
    if (!isKeyType(options.csrKeyType)) {
      throw usageError(`--csr-key-type must be one of ${KEY_TYPES.join(", ")}, got "${options.csrKeyType}"`);
    }
    csrKeyType = options.csrKeyType;
  } else if (options.csr === true) {
    csrKeyType = "ec-p384";
  }

  const timeoutText = options.timeoutSeconds ?? "300";
  const timeoutSeconds = Number(timeoutText);
  if (!/^\d+(\.\d+)?$/.test(timeoutText) || timeoutSeconds <= 0 || timeoutSeconds > 2_000_000) {
    throw usageError(`--timeout-seconds must be a positive number of seconds, got "${timeoutText}"`);
  }

  let retryAfter: Pick<FleetOptions, "minRetryAfterMs" | "maxRetryAfterMs"> = {};
  if (options.maxRetryAfterMs !== undefined) {
    const max = wholeNumber("--max-retry-after-ms", options.maxRetryAfterMs, 0, 3_600_000);
    retryAfter = { maxRetryAfterMs: max, minRetryAfterMs: Math.min(1_000, max) };
  }

  return {
    host,
    port,
    transport: options.websocket === true ? "wss" : "mqtts",
    idScope,
    groupKey,
    ca,
    devices: wholeNumber("--devices", options.devices, 1, 1_000_000),
    concurrency: wholeNumber("--concurrency", options.concurrency ?? "10", 1, 10_000),
    prefix: options.prefix ?? "fleet-",
    csrKeyType,
    telemetry: wholeNumber("--telemetry", options.telemetry ?? "0", 0, 1_000_000),
    timeoutMs: Math.round(timeoutSeconds * 1000),
    ...retryAfter,
  };
}

const ms = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toFixed(1));

function latencyLine(label: string, stats: Percentiles | null): string | undefined {
  if (stats === null) return undefined;
  return `  ${label.padEnd(12)} p50 ${ms(stats.p50)}  p90 ${ms(stats.p90)}  p99 ${ms(stats.p99)}  max ${ms(stats.max)} ms`;
}

/** The human report: one block per phase, then errors by code. */
export function formatFleetReport(report: FleetReport): string {
  const p = report.provisioning;
  const where = `${report.target.host}${report.target.port === null ? "" : `:${report.target.port}`}`;
  const lines: (string | undefined)[] = [
    `fleet: ${report.devices} devices (${report.prefix}…), concurrency ${report.concurrency}, ` +
      `${report.csrKeyType === null ? "no CSR" : `CSR ${report.csrKeyType}`}, ` +
      `${report.telemetryPerDevice} telemetry messages each, DPS ${where} (${report.target.transport})`,
    `provisioning: ${p.succeeded} ok, ${p.failed} failed, ${p.skipped} skipped in ${(p.durationMs / 1000).toFixed(1)} s` +
      ` = ${p.perSecond} devices/s, ${p.retries} retries`,
    latencyLine("latency", p.latencyMs),
    latencyLine("key gen", p.keyGenMs),
    latencyLine("CSR", p.csrMs),
  ];
  const t = report.telemetry;
  if (t !== null) {
    lines.push(
      `hub connect:  ${t.connected} connected, ${t.connectFailed} failed`,
      latencyLine("connect", t.connectMs),
      `telemetry:    ${t.acknowledged} acknowledged, ${t.failed} failed, ${t.notSent} not sent of ${t.attempted} ` +
        `in ${(t.durationMs / 1000).toFixed(1)} s = ${t.perSecond} messages/s (QoS 1)`,
      latencyLine("ack", t.ackLatencyMs),
    );
  }
  if (report.errors.length === 0) {
    lines.push("errors:       none");
  } else {
    lines.push("errors:");
    for (const group of report.errors) {
      lines.push(
        `  ${String(group.count).padStart(6)}  ${group.stage.padEnd(9)} ${group.code}` +
          `${group.errorCode === undefined ? "" : ` (${group.errorCode})`}  ${group.message}`,
      );
    }
  }
  lines.push(`total: ${(report.durationMs / 1000).toFixed(1)} s`);
  return lines.filter((line): line is string => line !== undefined).join("\n");
}
