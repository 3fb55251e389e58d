import type { CliIo, Command, CommandGroup } from "@skittlesorter/cli-shell";
import { Option } from "commander";
import type { SimConfig } from "../config.ts";
import { SimulatorError } from "../errors.ts";
import { startSimulator } from "../simulator.ts";
import type { TlsRoot } from "../state/pki.ts";
import {
  type Globals,
  LEVELS,
  type Level,
  port,
  positiveNumber,
  readPem,
  stderrLogger,
  wholeNumber,
  withGlobals,
} from "./shared.ts";

interface StartOptions extends Globals {
  host: string;
  allowHost?: string[];
  dpsPort?: number;
  dpsWsPort?: number;
  hubPort?: number;
  hubWsPort?: number;
  httpPort?: number;
  httpsPort?: number;
  assignmentDelayMs?: number;
  strictCsr?: boolean;
  registrationsPerMinute?: number;
  tlsHandshakeTimeoutMs?: number;
  edge?: boolean;
  tlsRoot?: string;
  tlsRootKey?: string;
  logLevel: Level;
}

function readyLine(config: SimConfig): string {
  const hub = config.hubs[0];
  return (
    `skittle-sim ready: dps=mqtts://${config.dps.endpoint} wss=${config.dps.wsUrl} ` +
    `hub=${hub?.hostname ?? "-"} http=${config.http.url} dashboard=${config.http.dashboardUrl} idScope=${config.idScope} ` +
    `config=${config.dataDir}/sim.json`
  );
}

function startOptions(command: Command): Command {
  return withGlobals(command)
    .option("--host <address>", "address every endpoint binds to", "127.0.0.1")
    .option(
      "--allow-host <name...>",
      "more host names the HTTP server answers to (localhost, 127.0.0.1, [::1] and --host always are)",
    )
    .option("--dps-port <n>", "DPS MQTT/TLS port (0 = any free; default: previous run's)", port)
    .option("--dps-ws-port <n>", "DPS MQTT-over-WebSocket port (default: previous run's)", port)
    .option("--hub-port <n>", "IoT Hub MQTT/TLS port (default: previous run's)", port)
    .option("--hub-ws-port <n>", "IoT Hub MQTT-over-WebSocket port (default: previous run's)", port)
    .option("--http-port <n>", "admin API, ADR REST and dashboard port (default: previous run's)", port)
    .option("--https-port <n>", "Azure-facing REST APIs over TLS (default: previous run's)", port)
    .option(
      "--assignment-delay-ms <ms>",
      "keep registrations `assigning` this long (clients must poll)",
      wholeNumber,
    )
    .option("--strict-csr", "accept only EC P-384 CSRs, as the 2025-07-01-preview documents")
    .option("--no-strict-csr", "accept EC P-384/P-256 and RSA 2048-4096 CSRs")
    .option(
      "--registrations-per-minute <n>",
      "register quota per minute, 429 beyond (0 = unlimited)",
      wholeNumber,
    )
    .option(
      "--tls-handshake-timeout-ms <ms>",
      "close DPS and hub connections whose TLS handshake has not completed this long after they opened (default 10000)",
      positiveNumber,
    )
    .option(
      "--edge",
      "edge mode: DPS and IoT Hub on localhost:8883 (MQTT/TLS) and localhost:443 (HTTPS, MQTT over WebSocket), " +
        "as the official clients dial them; hubs are a bare `localhost` (needs root or CAP_NET_BIND_SERVICE)",
    )
    .option(
      "--tls-root <certificate.pem>",
      "issue the TLS server certificate from this CA (with --tls-root-key) instead of the data directory's own root",
    )
    .option("--tls-root-key <key.pem>", "the private key of --tls-root")
    .addOption(new Option("--log-level <level>", "stderr log level").choices(LEVELS).default("info"));
}

/** `--tls-root` and `--tls-root-key`, both or neither. */
async function tlsRootOf(options: StartOptions): Promise<TlsRoot | undefined> {
  if (options.tlsRoot === undefined && options.tlsRootKey === undefined) return undefined;
  if (options.tlsRoot === undefined || options.tlsRootKey === undefined) {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      "--tls-root and --tls-root-key go together: the CA certificate and its private key, both PEM files.",
    );
  }
  return { certificatePem: await readPem(options.tlsRoot), privateKeyPem: await readPem(options.tlsRootKey) };
}

/** Runs until SIGTERM, SIGINT or `signal`; prints one `ready` line once everything listens. */
async function runStart(options: StartOptions, io: CliIo, signal: AbortSignal | undefined): Promise<void> {
  const logger = stderrLogger(io, options.logLevel);
  const stop = new AbortController();
  const onSignal = (name: string) => () => {
    logger.info(`${name} received, stopping`);
    stop.abort();
  };
  const onTerm = onSignal("SIGTERM");
  const onInt = onSignal("SIGINT");
  process.once("SIGTERM", onTerm);
  process.once("SIGINT", onInt);
  signal?.addEventListener("abort", () => stop.abort(), { once: true });
  try {
    const simulator = await startSimulator({
      dataDir: options.dataDir,
      host: options.host,
      allowedHostNames: options.allowHost,
      dpsPort: options.dpsPort,
      dpsWsPort: options.dpsWsPort,
      hubPort: options.hubPort,
      hubWsPort: options.hubWsPort,
      httpPort: options.httpPort,
      httpsPort: options.httpsPort,
      assignmentDelayMs: options.assignmentDelayMs,
      strictCsr: options.strictCsr,
      registrationsPerMinute: options.registrationsPerMinute,
      tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs,
      edge: options.edge,
      tlsRoot: await tlsRootOf(options),
      logger,
      signal: stop.signal,
    });
    // Exactly one line, JSON or text, so scripts can wait for it.
    io.stdout(
      `${options.json ? JSON.stringify({ event: "ready", ...simulator.config }) : readyLine(simulator.config)}\n`,
    );
    if (!stop.signal.aborted) {
      await new Promise<void>((resolvePromise) =>
        stop.signal.addEventListener("abort", () => resolvePromise(), { once: true }),
      );
    }
    await simulator.close();
    io.stderr("skittle-sim stopped\n");
  } finally {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onInt);
  }
}

/** `start`: runs the simulator in the foreground; `signal` stops it like SIGTERM (tests). */
export function startCommand(signal: AbortSignal | undefined): CommandGroup {
  return (program, context) => {
    startOptions(
      program.command("start").description("start the simulator; prints one line containing `ready`"),
    ).action((options: StartOptions) => runStart(options, context(program).io, signal));
  };
}
