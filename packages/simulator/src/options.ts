import type { Clock, Logger } from "@skittlesorter/core";
import { checkEdgeOptions } from "./edge/options.ts";
import { SimulatorError } from "./errors.ts";
import { LIMITS } from "./state/context.ts";
import type { TlsRoot } from "./state/pki.ts";

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface StartSimulatorOptions {
  /**
   * Where the database, keys and `sim.json` live; created if missing. Omitted: in memory (SQLite `:memory:`, keys
   * in memory, no `sim.json`): nothing is written to disk, and everything is gone after `close()`.
   */
  dataDir?: string | undefined;
  /** Address every endpoint binds to. Default 127.0.0.1. */
  host?: string | undefined;
  /**
   * More host names the HTTP server answers to (admin API, ADR REST, dashboard). `localhost`, `127.0.0.1`,
   * `[::1]` and `host` always are; requests with any other `Host` header are refused (DNS rebinding).
   */
  allowedHostNames?: readonly string[] | undefined;
  /**
   * A live event stream (`/admin/stream`) reader whose unsent data exceeds this many bytes is disconnected
   * (it reconnects and catches up). Default 1 MiB.
   */
  maxStreamBufferBytes?: number | undefined;
  /** DPS MQTT/TLS port; 0 = any free port. Default: the previous run's port, else 0. */
  dpsPort?: number | undefined;
  /** DPS MQTT-over-WebSocket (TLS) port. Default: the previous run's, else 0. */
  dpsWsPort?: number | undefined;
  /** The simulator's IoT hub: MQTT/TLS port. Default: the previous run's, else 0. */
  hubPort?: number | undefined;
  /** The simulator's IoT hub: MQTT-over-WebSocket (TLS) port. Default: the previous run's, else 0. */
  hubWsPort?: number | undefined;
  /** Admin HTTP API, ADR REST and dashboard port. Default: the previous run's, else 0. */
  httpPort?: number | undefined;
  /**
   * HTTPS port of the Azure-facing REST APIs (the services' REST surfaces, as Azure serves them over TLS).
   * Default: the previous run's, else 0.
   */
  httpsPort?: number | undefined;
  /**
   * Edge mode: Azure's ports on the host name `localhost`, as the official clients dial them. MQTT over TLS for DPS
   * and the hub on 8883 (routed by the CONNECT user name), HTTPS and MQTT over WebSocket on 443; hubs' `hostname`
   * and DPS `assignedHub` are a bare `localhost`. The DPS, hub and HTTPS port options do not apply. Binding ports
   * below 1024 needs root or `CAP_NET_BIND_SERVICE` on Linux.
   */
  edge?: boolean | undefined;
  /**
   * Issue the TLS server certificate from this root instead of the data directory's own, e.g. one already trusted
   * through `NODE_EXTRA_CA_CERTS` (clients read that once, at process start). sim.json `trustedCa` is then this root.
   */
  tlsRoot?: TlsRoot | undefined;
  /** Overrides the stored setting (and stores it). */
  assignmentDelayMs?: number | undefined;
  strictCsr?: boolean | undefined;
  registrationsPerMinute?: number | undefined;
  /** MQTT packets declaring more bytes close the connection. Default 256 KiB. */
  maxPacketBytes?: number | undefined;
  /**
   * DPS and IoT Hub connections (MQTT and WebSocket) whose TLS handshake has not completed this long after they
   * opened are closed, so clients that never send a ClientHello cannot hold sockets. Default 10 000 (10 s).
   */
  tlsHandshakeTimeoutMs?: number | undefined;
  /** Register bodies larger than this are answered 413. Default 64 KiB. */
  maxRequestBytes?: number | undefined;
  /** ADR REST: devices per list page when the request has no `$top`. Default 100. */
  adrPageSize?: number | undefined;
  /** ADR REST: how long long-running operations (PATCH, DELETE, synchronize) stay `InProgress`. Default 0. */
  adrOperationDelayMs?: number | undefined;
  /** Telemetry messages kept in the database (older ones are pruned). Default 100 000. */
  maxTelemetryMessages?: number | undefined;
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  signal?: AbortSignal | undefined;
}

function invalid(message: string): SimulatorError {
  return new SimulatorError("SIM_INVALID_OPTION", message);
}

function checkPorts(options: StartSimulatorOptions): void {
  for (const [name, value] of [
    ["dpsPort", options.dpsPort],
    ["dpsWsPort", options.dpsWsPort],
    ["hubPort", options.hubPort],
    ["hubWsPort", options.hubWsPort],
    ["httpPort", options.httpPort],
    ["httpsPort", options.httpsPort],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 65535)) {
      throw invalid(`${name} must be a port number 0-65535 (0 = any free port), got ${value}.`);
    }
  }
}

/** Throws `SIM_INVALID_OPTION` naming the first option that is out of range. */
export function checkOptions(options: StartSimulatorOptions): void {
  if (options.dataDir !== undefined && typeof options.dataDir !== "string") {
    throw invalid("dataDir must be a directory path (or omitted, to run in memory).");
  }
  checkPorts(options);
  checkEdgeOptions(options);
  const delay = options.assignmentDelayMs;
  if (delay !== undefined && (!Number.isInteger(delay) || delay < 0 || delay > LIMITS.maxAssignmentDelayMs)) {
    throw invalid(
      `assignmentDelayMs must be a whole number from 0 to ${LIMITS.maxAssignmentDelayMs}, got ${delay}.`,
    );
  }
  const handshakeMs = options.tlsHandshakeTimeoutMs;
  if (handshakeMs !== undefined && (!Number.isInteger(handshakeMs) || handshakeMs < 1)) {
    throw invalid(`tlsHandshakeTimeoutMs must be a whole number of milliseconds >= 1, got ${handshakeMs}.`);
  }
  const perMinute = options.registrationsPerMinute;
  if (perMinute !== undefined && (!Number.isInteger(perMinute) || perMinute < 0)) {
    throw invalid(`registrationsPerMinute must be a whole number >= 0 (0 = unlimited), got ${perMinute}.`);
  }
}
