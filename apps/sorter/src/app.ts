import { readFile } from "node:fs/promises";
import { type Clock, type Logger, noopLogger, systemClock } from "@skittlesorter/core";
import { azureIotDeviceConnector, type HubConnector, hubMqttConnector } from "@skittlesorter/hub-client";
import { COLOR_NAMES, type HubClientName, type SorterConfig } from "./config/index.ts";
import { CredentialManager, CredentialStore, type EnsureResult, type Provisioner } from "./credentials.ts";
import { describeError } from "./errors.ts";
import { openHardware, type SorterHardware } from "./hardware.ts";
import { type HubConnection, sorterHubConnector } from "./hub.ts";
import { Outbox } from "./outbox.ts";
import { ensurePrivateDirectory } from "./private-files.ts";
import { createDpsProvisioner } from "./provisioning.ts";
import type { RigReport } from "./rig.ts";
import {
  type ChutePositions,
  type SortedSkittle,
  Sorter,
  type SorterState,
  type SorterSummary,
} from "./sorter.ts";
import { Uplink } from "./uplink.ts";
import { SOFTWARE_NAME, SOFTWARE_VERSION } from "./version.ts";
import { classifierFor, sorterWiring } from "./wiring.ts";

export interface SorterAppDeps {
  logger?: Logger | undefined;
  /**
   * Default: the client `IoTHub.Client` names — the official Azure IoT device client (`azureIotDeviceConnector`) or
   * `hubMqttConnector` — trusting `Certificates.TrustedCaFile`. A connector whose connections offer
   * `renewCertificate` renews through the hub when `IoTHub.Client` is `hub-mqtt`.
   */
  hubConnector?: HubConnector | undefined;
  /** Default: DPS over MQTT with the configured attestation. */
  provisioner?: Provisioner | undefined;
  /**
   * Wall-clock time: certificates, their renewal, and telemetry timestamps. Default: the system clock. (The sorting
   * loop runs on the hardware's clock, which for the emulated rig is virtual.)
   */
  clock?: Clock | undefined;
  /** Already opened hardware (tests); default: opened from the configuration. */
  hardware?: SorterHardware | undefined;
  /** Stop after this many skittles. */
  maxSkittles?: number | undefined;
  /** Never provision twice within this interval (default 30 s; tests shorten it). */
  minProvisionIntervalMs?: number | undefined;
  /** Uplink reconnect delays (tests shorten them). */
  reconnectInitialMs?: number | undefined;
  reconnectMaxMs?: number | undefined;
}

export interface TelemetrySummary {
  /** Messages queued in this run. */
  queued: number;
  /** Messages the hub acknowledged in this run (may include ones queued by an earlier run). */
  delivered: number;
  /** Still in the outbox (sent on the next start). */
  pending: number;
  /** Dropped or refused because the outbox was full, over the outbox's life. */
  dropped: number;
}

export interface RunSummary {
  deviceId: string | undefined;
  assignedHub: string | undefined;
  certificate: { subject: string; notAfter: string; sha256Thumbprint: string } | undefined;
  credentialsSource: EnsureResult["source"] | undefined;
  /** `IoTHub.Client` (undefined with telemetry off). */
  hubClient: HubClientName | undefined;
  sorting: SorterSummary;
  rig: Omit<RigReport, "drops"> | undefined;
  telemetry: TelemetrySummary | undefined;
  /** `requested` (signal or stop()), `max-skittles`, `hopper-empty`, or `error`. */
  stopReason: SorterSummary["stopReason"] | "error";
}

export interface SorterApp {
  readonly sorter: Sorter;
  readonly hardware: SorterHardware;
  readonly credentials: CredentialManager | undefined;
  readonly uplink: Uplink | undefined;
  readonly outbox: Outbox | undefined;
  /** The provisioning outcome at start (undefined with telemetry off). */
  readonly ensured: EnsureResult | undefined;
  /** Resolves when the loop ended and everything was shut down (after stop(), or by itself). */
  readonly done: Promise<RunSummary>;
  /** Graceful stop: finish the skittle in hand, park, flush the outbox, disconnect. Resolves like {@link done}. */
  stop(): Promise<RunSummary>;
}

/** Composes config → hardware → credentials → IoT Hub → sorting loop, and starts sorting. */
export async function startSorterApp(config: SorterConfig, deps: SorterAppDeps = {}): Promise<SorterApp> {
  const logger = deps.logger ?? noopLogger;
  const clock = deps.clock ?? systemClock;
  for (const warning of config.warnings) logger.warn(warning);

  const classifier = await classifierFor(config.sensor);
  const hardware = deps.hardware ?? (await openHardware(config, { logger }));

  let outbox: Outbox | undefined;
  let credentials: CredentialManager | undefined;
  let uplink: Uplink | undefined;
  let ensured: EnsureResult | undefined;
  const cleanup = async (): Promise<void> => {
    await uplink?.close();
    credentials?.close();
    outbox?.close();
    await hardware.close();
  };

  try {
    if (config.telemetry.enabled && config.dps !== undefined) {
      ensurePrivateDirectory(config.dataDir);
      outbox = Outbox.open(config.outbox.file, {
        maxMessages: config.outbox.maxMessages,
        whenFull: config.outbox.whenFull,
        clock,
      });
      const trustedCa =
        config.credentials.trustedCaFile === undefined
          ? undefined
          : await readFile(config.credentials.trustedCaFile, "utf8");
      credentials = new CredentialManager({
        store: new CredentialStore({
          keyFile: config.credentials.keyFile,
          chainFile: config.credentials.chainFile,
          csrFile: config.credentials.csrFile,
          metadataFile: config.credentials.metadataFile,
        }),
        provisioner:
          deps.provisioner ??
          createDpsProvisioner(config.dps, {
            ca: trustedCa,
            logger: config.dps.debug ? logger : quiet(logger),
            userAgent: `${SOFTWARE_NAME}/${SOFTWARE_VERSION}`,
            clock,
          }),
        hubRenewer:
          config.telemetry.client === "hub-mqtt"
            ? async (request) => uplink?.renewCertificate(request)
            : undefined,
        registrationId: config.dps.registrationId,
        keyType: config.credentials.keyType,
        renewalWindowMs: config.credentials.renewalWindowMs,
        minProvisionIntervalMs: deps.minProvisionIntervalMs,
        clock,
        logger,
      });
      ensured = await credentials.ensure();
      const current = ensured.credentials;
      if (
        config.telemetry.configuredDeviceId !== undefined &&
        config.telemetry.configuredDeviceId !== current.deviceId
      ) {
        logger.warn(
          `IoTHub.DeviceId is "${config.telemetry.configuredDeviceId}" but DPS assigned "${current.deviceId}"; telemetry uses the assigned id.`,
        );
      }
      credentials.startRenewal();
      if (config.adr !== undefined) void updateAdrDevice(config, current.deviceId, trustedCa, logger);
    }
  } catch (error) {
    await cleanup();
    throw error;
  }

  let lastTwinReportMs = Number.NEGATIVE_INFINITY;
  let queued = 0;
  const sorter: Sorter = new Sorter({
    ...sorterWiring(config, hardware, classifier),
    logger,
    maxSkittles: deps.maxSkittles,
    onHopperEmpty: hardware.rig === undefined ? "idle" : "stop",
    idleMs: config.sensor.idleMs,
    onSorted: (skittle) => {
      if (outbox === undefined || credentials?.current === undefined) return;
      const deviceId = credentials.current.deviceId;
      outbox.enqueue((messageId) => telemetryMessage(skittle, messageId, deviceId, clock.now()));
      queued += 1;
      if (clock.now() - lastTwinReportMs >= config.telemetry.twinReportIntervalMs) {
        lastTwinReportMs = clock.now();
        uplink?.reportTwin({ counts: countsOf(sorter) });
      }
    },
    onStateChange: (state) => uplink?.reportTwin({ sorting: sortingReport(state, sorter.chutePositions) }),
  });

  if (credentials !== undefined && outbox !== undefined) {
    const manager = credentials;
    const box = outbox;
    uplink = new Uplink({
      connector: sorterHubConnector(deps.hubConnector ?? (await defaultHubConnector(config, logger, clock))),
      credentials: manager,
      outbox: box,
      logger,
      reconnectInitialMs: deps.reconnectInitialMs,
      reconnectMaxMs: deps.reconnectMaxMs,
      onConnected: (connection) =>
        wireConnection(connection, sorter, config, logger, (patch) => uplink?.reportTwin(patch)),
    });
    const certificateReport = () => {
      const current = manager.current;
      return current === undefined
        ? {}
        : {
            certificate: {
              subject: current.certificate.subject,
              thumbprint: current.certificate.sha256Thumbprint,
              validFrom: current.certificate.notBefore.toISOString(),
              validUntil: current.certificate.notAfter.toISOString(),
            },
          };
    };
    uplink.reportTwin({
      software: { name: SOFTWARE_NAME, version: SOFTWARE_VERSION },
      ...certificateReport(),
      sorting: sortingReport("running", sorter.chutePositions),
      counts: countsOf(sorter),
    });
    manager.onRenewed(() => uplink?.reportTwin(certificateReport()));
    uplink.start();
  }

  let stopped = false;
  let shutdown: Promise<RunSummary> | undefined;
  const finish = (sorting: SorterSummary | undefined, failure: unknown): Promise<RunSummary> => {
    shutdown ??= (async () => {
      let telemetry: TelemetrySummary | undefined;
      if (uplink !== undefined && outbox !== undefined) {
        uplink.reportTwin({
          counts: countsOf(sorter),
          sorting: sortingReport("stopped", sorter.chutePositions),
        });
        const pending = await uplink.flush({ timeoutMs: config.outbox.flushTimeoutMs });
        if (pending > 0)
          logger.warn("telemetry not yet delivered stays in the outbox for the next start", { pending });
        await uplink.close();
        const stats = outbox.stats();
        telemetry = {
          queued,
          delivered: uplink.stats.delivered,
          pending: stats.pending,
          dropped: stats.dropped,
        };
      }
      const rig = hardware.rig?.report();
      await cleanup();
      if (failure !== undefined) throw failure;
      const current = credentials?.current;
      const summary: RunSummary = {
        deviceId: current?.deviceId,
        assignedHub: current?.assignedHub,
        certificate:
          current === undefined
            ? undefined
            : {
                subject: current.certificate.subject,
                notAfter: current.certificate.notAfter.toISOString(),
                sha256Thumbprint: current.certificate.sha256Thumbprint,
              },
        credentialsSource: ensured?.source,
        hubClient: uplink === undefined ? undefined : config.telemetry.client,
        sorting: sorting as SorterSummary,
        rig: rig === undefined ? undefined : withoutDrops(rig),
        telemetry,
        stopReason: sorting?.stopReason ?? "error",
      };
      return summary;
    })();
    return shutdown;
  };

  const done = sorter.run().then(
    (summary) => finish(summary, undefined),
    (error: unknown) => {
      logger.error("the sorting loop failed", { error: describeError(error) });
      return finish(undefined, error);
    },
  );
  done.catch(() => undefined);

  return {
    sorter,
    hardware,
    credentials,
    uplink,
    outbox,
    ensured,
    done,
    stop() {
      if (!stopped) {
        stopped = true;
        logger.info("stopping: finishing the skittle in hand");
        sorter.stop();
      }
      return done;
    },
  };
}

function withoutDrops(report: RigReport): Omit<RigReport, "drops"> {
  const { drops: _drops, ...rest } = report;
  return rest;
}

async function trustedCaOf(config: SorterConfig): Promise<string | undefined> {
  return config.credentials.trustedCaFile === undefined
    ? undefined
    : readFile(config.credentials.trustedCaFile, "utf8");
}

/**
 * The client `IoTHub.Client` names. Both report a lost connection once; the uplink reconnects. hub-mqtt checks the
 * certificates the hub issues against `clock`, like the credential manager does.
 */
async function defaultHubConnector(
  config: SorterConfig,
  logger: Logger,
  clock: Clock,
): Promise<HubConnector> {
  const ca = await trustedCaOf(config);
  return config.telemetry.client === "hub-mqtt"
    ? hubMqttConnector({ ca, logger, clock })
    : azureIotDeviceConnector({ ca, logger });
}

/** Debug lines of the DPS client only when `EnableDebugLogging` is on. */
function quiet(logger: Logger): Logger {
  return { ...logger, debug: () => undefined };
}

/**
 * The telemetry message for one sorted skittle: JSON body, content type/encoding, `colorAlert` property.
 * `timestampMs` is wall-clock time, not the sorting loop's `skittle.atMs`: the emulated rig's clock is virtual.
 */
export function telemetryMessage(
  skittle: SortedSkittle,
  messageId: number,
  deviceId: string,
  timestampMs: number,
) {
  return {
    body: JSON.stringify({
      messageId,
      deviceId,
      color: skittle.color,
      timestamp: new Date(timestampMs).toISOString(),
      confidence: skittle.confidence,
      rgbc: skittle.reading,
    }),
    properties: { colorAlert: skittle.color === "Unknown" ? "undetected" : "detected" },
    contentType: "application/json",
    contentEncoding: "utf-8",
  };
}

function countsOf(sorter: Sorter): Record<string, number> {
  const byColor = sorter.byColor;
  const counts: Record<string, number> = { total: sorter.sorted };
  for (const name of [...COLOR_NAMES, "Unknown"]) counts[name] = byColor[name] ?? 0;
  return counts;
}

function sortingReport(state: SorterState, chutes: Readonly<ChutePositions>) {
  const { default: defaultAngle, reject, ...colors } = chutes;
  return { state, chutePositions: { ...colors, Default: defaultAngle, Reject: reject } };
}

/** Twin desired properties and direct methods on each new connection. */
function wireConnection(
  connection: HubConnection,
  sorter: Sorter,
  config: SorterConfig,
  logger: Logger,
  report: (patch: Record<string, unknown>) => void,
): void {
  connection.onMethod("pause", () => {
    sorter.pause();
    return { status: 200, payload: { state: "paused" } };
  });
  connection.onMethod("resume", () => {
    sorter.resume();
    return { status: 200, payload: { state: sorter.state } };
  });
  connection.onMethod("home", async () => {
    await sorter.home();
    return { status: 200, payload: { state: "paused", parked: true } };
  });
  connection.onDesired((patch) => {
    const result = applyDesired(patch, sorter, config);
    for (const problem of result.problems) logger.warn("ignored a desired property", { problem });
    if (result.changed) report({ sorting: sortingReport(sorter.state, sorter.chutePositions) });
  });
}

/**
 * Applies desired properties: `enableSorting` (bool) or `sorting.paused` pause/resume; `chutePositions.{Red…Reject}`
 * change chute angles (within the chute servo's range).
 */
export function applyDesired(
  patch: Record<string, unknown>,
  sorter: Sorter,
  config: SorterConfig,
): { changed: boolean; problems: string[] } {
  const problems: string[] = [];
  let changed = false;
  const sorting = patch.sorting as { paused?: unknown } | undefined;
  const paused =
    typeof patch.enableSorting === "boolean"
      ? !patch.enableSorting
      : typeof sorting?.paused === "boolean"
        ? sorting.paused
        : undefined;
  if (paused === true) {
    sorter.pause();
    changed = true;
  } else if (paused === false) {
    sorter.resume();
    changed = true;
  }
  const chutes = patch.chutePositions;
  if (chutes !== null && typeof chutes === "object") {
    const update: Partial<ChutePositions> = {};
    for (const [key, value] of Object.entries(chutes as Record<string, unknown>)) {
      if (key.startsWith("$")) continue;
      const name = COLOR_NAMES.find((color) => color.toLowerCase() === key.toLowerCase());
      const target =
        name ??
        (key.toLowerCase() === "reject" ? "reject" : key.toLowerCase() === "default" ? "default" : undefined);
      if (target === undefined) {
        problems.push(
          `chutePositions.${key}: unknown chute (use Red, Green, Purple, Yellow, Orange, Default or Reject)`,
        );
      } else if (typeof value !== "number" || !(value >= 0 && value <= config.hardware.chute.rangeDeg)) {
        problems.push(`chutePositions.${key}: must be a number from 0 to ${config.hardware.chute.rangeDeg}`);
      } else {
        (update as Record<string, number>)[target] = value;
      }
    }
    if (Object.keys(update).length > 0) {
      sorter.setChutePositions(update);
      changed = true;
    }
  }
  return { changed, problems };
}

async function updateAdrDevice(
  config: SorterConfig,
  deviceId: string,
  trustedCa: string | undefined,
  logger: Logger,
): Promise<void> {
  const adr = config.adr;
  if (adr === undefined || adr.token === undefined) return;
  try {
    const { createAdrClient, staticTokenCredential } = await import("@skittlesorter/adr-client");
    const client = createAdrClient({
      subscriptionId: adr.subscriptionId,
      resourceGroup: adr.resourceGroup,
      namespace: adr.namespace,
      credential: staticTokenCredential(adr.token),
      baseUrl: adr.baseUrl,
      ca: trustedCa,
      logger,
    });
    if (adr.deviceUpdate === undefined) {
      const device = await client.getDevice(deviceId);
      logger.info(device === undefined ? "ADR device not found" : "ADR device found", {
        device: deviceId,
        namespace: adr.namespace,
      });
      return;
    }
    const update = adr.deviceUpdate;
    await client.updateDevice(deviceId, {
      enabled: update.enabled,
      attributes: update.attributes,
      tags: update.tags,
      ...(update.operatingSystemVersion === undefined
        ? {}
        : { operatingSystemVersion: update.operatingSystemVersion }),
    });
    logger.info("ADR device updated", { device: deviceId, namespace: adr.namespace });
  } catch (error) {
    logger.warn("ADR device update failed (sorting continues)", {
      device: deviceId,
      error: describeError(error),
    });
  }
}
