import { randomUUID } from "node:crypto";
import {
  type Clock,
  checkDurationMs,
  type Logger,
  noopLogger,
  packageUserAgent,
  resolveMqttEndpoint,
  systemClock,
} from "@skittlesorter/core";
import { type IClientOptions, connect as mqttConnect } from "mqtt";
import type { HubClientOptions, HubTransport } from "./client.ts";
import type { MqttConnect } from "./connection.ts";
import { HubError } from "./errors.ts";
import { HUB_RENEWAL_API_VERSION } from "./protocol.ts";

/** The options checked, with their defaults filled in. */
export interface Settings {
  hostName: string;
  deviceId: string;
  connectHost: string;
  port: number;
  transport: HubTransport;
  ca: IClientOptions["ca"];
  apiVersion: string;
  userAgent: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  renewalTimeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  keepAliveSeconds: number;
  logger: Logger;
  clock: Clock;
  random: () => number;
  connect: MqttConnect;
  newRequestId: () => string;
}

export function resolveSettings(options: HubClientOptions): Settings {
  const invalid = (message: string): HubError => new HubError("HUB_INVALID_OPTIONS", message);
  if (typeof options?.hostName !== "string" || options.hostName.trim() === "") {
    throw invalid(
      "hostName is required: the hub's host name, e.g. skittle-hub.azure-devices.net (DPS assignedHub).",
    );
  }
  if (
    typeof options.deviceId !== "string" ||
    !/^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/.test(options.deviceId)
  ) {
    throw invalid(
      `deviceId must be 1–128 characters of letters, digits and - . % _ * ? ! ( ) , : = @ $ ', got ${JSON.stringify(options.deviceId)}.`,
    );
  }
  const { transport, port, keepAliveSeconds, ca } = resolveMqttEndpoint(options, invalid);
  const duration = (name: string, value: number | undefined, fallback: number, min = 1): number =>
    checkDurationMs(name, value ?? fallback, min, invalid);
  const initialBackoffMs = duration("initialBackoffMs", options.initialBackoffMs, 1_000, 0);
  const maxBackoffMs = duration("maxBackoffMs", options.maxBackoffMs, 60_000, 0);
  if (maxBackoffMs < initialBackoffMs) {
    throw invalid(`maxBackoffMs (${maxBackoffMs}) is below initialBackoffMs (${initialBackoffMs}).`);
  }
  return {
    hostName: options.hostName.trim(),
    deviceId: options.deviceId,
    connectHost: (options.connectHost ?? options.hostName).trim(),
    port,
    transport,
    ca,
    apiVersion: options.apiVersion ?? HUB_RENEWAL_API_VERSION,
    userAgent:
      options.userAgent ??
      packageUserAgent("skittlesorter-hub-mqtt", new URL("../package.json", import.meta.url)),
    connectTimeoutMs: duration("connectTimeoutMs", options.connectTimeoutMs, 30_000),
    requestTimeoutMs: duration("requestTimeoutMs", options.requestTimeoutMs, 60_000),
    renewalTimeoutMs: duration("renewalTimeoutMs", options.renewalTimeoutMs, 120_000),
    initialBackoffMs,
    maxBackoffMs,
    keepAliveSeconds,
    logger: options.logger ?? noopLogger,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    connect: options.connect ?? mqttConnect,
    newRequestId: options.newRequestId ?? randomUUID,
  };
}
