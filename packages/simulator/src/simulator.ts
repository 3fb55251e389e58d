import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, open, readFile, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { type Clock, type Logger, noopLogger, systemClock } from "@skittlesorter/core";
import { writeFileAtomic } from "@skittlesorter/csr";
import { registerDashboardRoutes } from "./admin/dashboard.ts";
import { putPolicy, registerAdminRoutes } from "./admin/routes.ts";
import { ADR_API_VERSION, registerAdrRoutes } from "./adr/routes.ts";
import { AdrService } from "./adr/service.ts";
import { type DpsEndpoint, startDpsEndpoint } from "./dps/mqtt.ts";
import { API_VERSIONS } from "./dps/protocol.ts";
import { DpsService, newEtag } from "./dps/service.ts";
import { SimulatorError } from "./errors.ts";
import { type HubEndpoint, startHubEndpoint } from "./hub/mqtt.ts";
import { registerHubRoutes } from "./hub/routes.ts";
import { HubService } from "./hub/service.ts";
import { Router, startJsonServer } from "./net/http.ts";
import { WEBSOCKET_PATH } from "./net/mqtt-listeners.ts";
import { DEFAULT_SETTINGS, LIMITS, type SimContext } from "./state/context.ts";
import type { AdrNamespace, Enrollment, EnrollmentGroup, Settings } from "./state/model.ts";
import { createCredentialRoot, ensureTlsMaterial, KeyCache } from "./state/pki.ts";
import { Store } from "./state/store.ts";

export const SIM_JSON = "sim.json";
const DATABASE_FILE = "sim.db";
const LOCK_FILE = "sim.lock";
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_HUB_NAME = "skittle-hub";
export const DEFAULT_GROUP_ID = "skittlesorter";
export const DEFAULT_POLICY = "default";
export const DEFAULT_NAMESPACE = "skittle-ns";
export const DEFAULT_RESOURCE_GROUP = "skittle-sim";
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface StartSimulatorOptions {
  /** Where the database, keys and `sim.json` live; created if missing. */
  dataDir: string;
  /** Address every endpoint binds to. Default 127.0.0.1. */
  host?: string;
  /**
   * More host names the HTTP server answers to (admin API, ADR REST, dashboard). `localhost`, `127.0.0.1`,
   * `[::1]` and `host` always are; requests with any other `Host` header are refused (DNS rebinding).
   */
  allowedHostNames?: readonly string[];
  /**
   * A live event stream (`/admin/stream`) reader whose unsent data exceeds this many bytes is disconnected
   * (it reconnects and catches up). Default 1 MiB.
   */
  maxStreamBufferBytes?: number;
  /** DPS MQTT/TLS port; 0 = any free port. Default: the previous run's port, else 0. */
  dpsPort?: number;
  /** DPS MQTT-over-WebSocket (TLS) port. Default: the previous run's, else 0. */
  dpsWsPort?: number;
  /** The simulator's IoT hub: MQTT/TLS port. Default: the previous run's, else 0. */
  hubPort?: number;
  /** The simulator's IoT hub: MQTT-over-WebSocket (TLS) port. Default: the previous run's, else 0. */
  hubWsPort?: number;
  /** Admin HTTP API, ADR REST and dashboard port. Default: the previous run's, else 0. */
  httpPort?: number;
  /** Overrides the stored setting (and stores it). */
  assignmentDelayMs?: number;
  strictCsr?: boolean;
  registrationsPerMinute?: number;
  /** MQTT packets declaring more bytes close the connection. Default 256 KiB. */
  maxPacketBytes?: number;
  /**
   * DPS and IoT Hub connections (MQTT and WebSocket) whose TLS handshake has not completed this long after they
   * opened are closed, so clients that never send a ClientHello cannot hold sockets. Default 10 000 (10 s).
   */
  tlsHandshakeTimeoutMs?: number;
  /** Register bodies larger than this are answered 413. Default 64 KiB. */
  maxRequestBytes?: number;
  /** ADR REST: devices per list page when the request has no `$top`. Default 100. */
  adrPageSize?: number;
  /** ADR REST: how long long-running operations (PATCH, DELETE, synchronize) stay `InProgress`. Default 0. */
  adrOperationDelayMs?: number;
  /** Telemetry messages kept in the database (older ones are pruned). Default 100 000. */
  maxTelemetryMessages?: number;
  logger?: Logger;
  clock?: Clock;
  signal?: AbortSignal;
}

export interface SimEnrollmentGroupInfo {
  id: string;
  attestation: "symmetricKey" | "x509";
  primaryKey?: string;
  secondaryKey?: string;
  caName?: string;
  credentialPolicy: string | null;
  enabled: boolean;
}

/** The `sim.json` contract (DESIGN §4). */
export interface SimConfig {
  version: 1;
  pid: number;
  dataDir: string;
  idScope: string;
  dps: {
    host: string;
    port: number;
    /** `host:port`, usable as the official client's global endpoint. */
    endpoint: string;
    wsPort: number;
    wsUrl: string;
    apiVersions: string[];
  };
  /** The simulator's own hub: `hostname` (= DPS `assignedHub`), MQTT/TLS `port`, MQTT over WebSocket `wsUrl`. */
  hubs: { name: string; hostname: string; host: string; port: number; wsPort: number; wsUrl: string }[];
  /** Admin API (`adminUrl`), dashboard (`dashboardUrl`); ADR REST is at `adr.baseUrl`. */
  http: { url: string; adminUrl: string; dashboardUrl: string };
  trustedCaFile: string;
  enrollmentGroups: SimEnrollmentGroupInfo[];
  adr: {
    baseUrl: string;
    subscriptionId: string;
    resourceGroup: string;
    namespace: string;
    token: string;
    apiVersion: string;
    /** ARM id of the namespace, `/subscriptions/…/providers/Microsoft.DeviceRegistry/namespaces/{namespace}`. */
    namespaceId: string;
    credentialPolicies: { name: string; validityDays: number }[];
    /** PEM of the namespace credential root (the last certificate of issued chains). */
    rootCaFile: string;
  };
  settings: Settings;
}

export interface Simulator {
  /** The object written to `sim.json`. */
  readonly config: SimConfig;
  /** Absolute path of `sim.json`. */
  readonly configFile: string;
  /** Stops every endpoint, flushes the database, removes `sim.json`. Idempotent. */
  close(): Promise<void>;
}

interface Instance {
  idScope: string;
  subscriptionId: string;
  created: string;
}

interface Ports {
  dps: number;
  dpsWs: number;
  hub: number;
  hubWs: number;
  http: number;
}

function checkPort(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 65535)) {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      `${name} must be a port number 0-65535 (0 = any free port), got ${value}.`,
    );
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Lock files this process holds (so a lock left by an earlier process with the same pid, e.g. pid 1 in a container, counts as stale). */
const heldLocks = new Set<string>();

async function acquireLock(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      heldLocks.add(path);
      return async () => {
        heldLocks.delete(path);
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
      const live = pid === process.pid ? heldLocks.has(path) : pidAlive(pid);
      if (Number.isInteger(pid) && pid > 0 && live) {
        throw new SimulatorError(
          "SIM_DATA_DIR",
          `Another simulator (pid ${pid}) is using ${dataDir}; stop it first or use another --data-dir.`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new SimulatorError(
    "SIM_DATA_DIR",
    `Cannot lock ${dataDir}: remove ${path} if no simulator is running.`,
  );
}

function newIdScope(): string {
  return `0ne${randomBytes(4).toString("hex").toUpperCase()}`;
}

function checkSettings(options: StartSimulatorOptions): void {
  const delay = options.assignmentDelayMs;
  if (delay !== undefined && (!Number.isInteger(delay) || delay < 0 || delay > LIMITS.maxAssignmentDelayMs)) {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      `assignmentDelayMs must be a whole number from 0 to ${LIMITS.maxAssignmentDelayMs}, got ${delay}.`,
    );
  }
  const handshakeMs = options.tlsHandshakeTimeoutMs;
  if (handshakeMs !== undefined && (!Number.isInteger(handshakeMs) || handshakeMs < 1)) {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      `tlsHandshakeTimeoutMs must be a whole number of milliseconds >= 1, got ${handshakeMs}.`,
    );
  }
  const perMinute = options.registrationsPerMinute;
  if (perMinute !== undefined && (!Number.isInteger(perMinute) || perMinute < 0)) {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      `registrationsPerMinute must be a whole number >= 0 (0 = unlimited), got ${perMinute}.`,
    );
  }
}

/**
 * Starts the simulator: opens (or creates) the state in `dataDir`, creates on first start everything a demo
 * needs (TLS root and server certificate, ID scope, ADR namespace with credential and default policy, one
 * linked hub, a symmetric-key enrollment group tied to the policy), starts the endpoints and writes
 * `sim.json`. Resolves once everything listens.
 */
export async function startSimulator(options: StartSimulatorOptions): Promise<Simulator> {
  options.signal?.throwIfAborted();
  const logger = options.logger ?? noopLogger;
  const clock = options.clock ?? systemClock;
  const host = options.host ?? DEFAULT_HOST;
  for (const [name, value] of [
    ["dpsPort", options.dpsPort],
    ["dpsWsPort", options.dpsWsPort],
    ["hubPort", options.hubPort],
    ["hubWsPort", options.hubWsPort],
    ["httpPort", options.httpPort],
  ] as const) {
    checkPort(name, value);
  }
  checkSettings(options);
  if (typeof options.dataDir !== "string" || options.dataDir === "") {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      "dataDir is required: the directory that keeps the simulator's state.",
    );
  }
  const dataDir = resolve(options.dataDir);
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new SimulatorError(
      "SIM_DATA_DIR",
      `Cannot create the data directory ${dataDir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const releaseLock = await acquireLock(dataDir);
  const configFile = join(dataDir, SIM_JSON);
  await rm(configFile, { force: true });

  const cleanups: (() => Promise<void> | void)[] = [releaseLock];
  const runCleanups = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.warn("cleanup failed", { error: (error as Error).message });
      }
    }
  };

  try {
    const store = Store.open(join(dataDir, DATABASE_FILE));
    cleanups.push(() => store.close());
    const nowIso = (): string => new Date(clock.now()).toISOString();
    const keys = new KeyCache();
    const pkiDir = join(dataDir, "pki");
    await mkdir(pkiDir, { recursive: true, mode: 0o700 });

    let instance = store.getMeta<Instance>("instance");
    const firstStart = instance === undefined;
    if (instance === undefined) {
      instance = { idScope: newIdScope(), subscriptionId: randomUUID(), created: nowIso() };
      store.setMeta("instance", instance);
    }
    const tls = await ensureTlsMaterial(pkiDir, { extraNames: [host], clock });
    options.signal?.throwIfAborted();

    let namespace = store.getMeta<AdrNamespace>("adrNamespace");
    const adrDir = join(pkiDir, "adr", namespace?.name ?? DEFAULT_NAMESPACE);
    await mkdir(adrDir, { recursive: true, mode: 0o700 });
    if (namespace === undefined) {
      const root = await createCredentialRoot(adrDir, DEFAULT_NAMESPACE, clock);
      namespace = {
        name: DEFAULT_NAMESPACE,
        subscriptionId: instance.subscriptionId,
        resourceGroup: DEFAULT_RESOURCE_GROUP,
        rootCaPem: root.certificatePem,
        rootKeyFile: root.keyFile,
        token: randomBytes(32).toString("base64url"),
        created: nowIso(),
      };
      store.setMeta("adrNamespace", namespace);
    }
    const adr = namespace;

    const stored = store.getMeta<Partial<Settings>>("settings") ?? {};
    let settings: Settings = { ...DEFAULT_SETTINGS, ...stored };
    if (options.assignmentDelayMs !== undefined) settings.assignmentDelayMs = options.assignmentDelayMs;
    if (options.strictCsr !== undefined) settings.strictCsr = options.strictCsr;
    if (options.registrationsPerMinute !== undefined)
      settings.registrationsPerMinute = options.registrationsPerMinute;
    store.setMeta("settings", settings);

    const previousPorts = store.getMeta<Partial<Ports>>("ports") ?? {};
    let currentConfig: SimConfig | undefined;
    const context: SimContext = {
      store,
      clock,
      logger,
      keys,
      idScope: instance.idScope,
      adrNamespace: adr.name,
      adrDir,
      settings: () => settings,
      updateSettings(patch) {
        settings = { ...settings, ...patch };
        store.setMeta("settings", settings);
        store.addEvent(nowIso(), "settings.updated", "settings", { ...patch });
        return settings;
      },
      config: () => (currentConfig === undefined ? {} : { ...currentConfig }),
      changed: async () => {
        if (currentConfig === undefined) return;
        currentConfig = buildConfig();
        await writeConfig();
      },
      nowIso,
    };

    if (firstStart) {
      await putPolicy(context, DEFAULT_POLICY, LIMITS.defaultValidityDays);
    }

    const adrService = new AdrService({
      store,
      clock,
      logger,
      namespace: { name: adr.name, subscriptionId: adr.subscriptionId, resourceGroup: adr.resourceGroup },
    });
    adrService.trust(); // first start, or a data directory of part 1: the existing policies are synchronized
    const hubService = new HubService({
      store,
      clock,
      logger,
      adr: adrService,
      maxTelemetryMessages: options.maxTelemetryMessages ?? 100_000,
    });
    cleanups.push(() => hubService.close());

    const service = new DpsService({
      store,
      idScope: instance.idScope,
      adrNamespace: adr.name,
      keys,
      settings: () => settings,
      clock,
      logger,
      maxRequestBytes: options.maxRequestBytes ?? 64 * 1024,
      onAssigned: ({ deviceId, hub: assignedHub, enrollment }) =>
        adrService.recordProvisioned({
          deviceId,
          hub: assignedHub,
          credentialPolicy: enrollment.credentialPolicy,
        }),
    });

    const router = new Router();
    registerAdminRoutes(router, context);
    router.add("POST", "/admin/adr/synchronize", () => ({ body: adrService.synchronize("admin-api") }));
    registerHubRoutes(router, {
      context,
      hub: hubService,
      adr: adrService,
      maxStreamBufferBytes: options.maxStreamBufferBytes ?? 1024 * 1024,
    });
    registerAdrRoutes(router, {
      context,
      adr: adrService,
      token: () => adr.token,
      pageSize: options.adrPageSize ?? 100,
      operationDelayMs: options.adrOperationDelayMs ?? 0,
    });
    await registerDashboardRoutes(router);
    const http = await startJsonServer({
      host,
      port: options.httpPort ?? previousPorts.http ?? 0,
      router,
      logger,
      maxBodyBytes: 1024 * 1024,
      ...(options.allowedHostNames === undefined ? {} : { allowedHostNames: options.allowedHostNames }),
    }).catch((error: NodeJS.ErrnoException) => {
      throw new SimulatorError(
        "SIM_LISTEN_FAILED",
        error.code === "EADDRINUSE"
          ? `The admin HTTP port ${host}:${options.httpPort ?? previousPorts.http} is in use; pass --http-port 0 for any free port.`
          : `Cannot listen for the admin HTTP API: ${error.message}`,
        { cause: error },
      );
    });
    cleanups.push(() => closeHttp(http.server));

    let dps: DpsEndpoint;
    let hub: HubEndpoint;
    try {
      dps = await startDpsEndpoint({
        host,
        port: options.dpsPort ?? previousPorts.dps ?? 0,
        wsPort: options.dpsWsPort ?? previousPorts.dpsWs ?? 0,
        tls,
        service,
        logger,
        maxPacketBytes: options.maxPacketBytes ?? 256 * 1024,
        tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
      });
      cleanups.push(() => dps.close());
      hub = await startHubEndpoint({
        host,
        port: options.hubPort ?? previousPorts.hub ?? 0,
        wsPort: options.hubWsPort ?? previousPorts.hubWs ?? 0,
        tls,
        service: hubService,
        logger,
        maxPacketBytes: options.maxPacketBytes ?? 256 * 1024,
        tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
        nowIso,
      });
      cleanups.push(() => hub.close());
    } catch (error) {
      throw new SimulatorError("SIM_LISTEN_FAILED", (error as Error).message, { cause: error });
    }
    const ports: Ports = {
      dps: dps.port,
      dpsWs: dps.wsPort,
      hub: hub.port,
      hubWs: hub.wsPort,
      http: http.port,
    };
    store.setMeta("ports", ports);

    // The simulator's own hub follows its port; created on first start.
    const localHostname = `localhost:${hub.port}`;
    const localHubs = store.listHubs().filter((item) => item.local);
    if (localHubs.length === 0) {
      store.putHub({
        name: DEFAULT_HUB_NAME,
        hostname: localHostname,
        local: true,
        allocationWeight: 1,
        applyAllocationPolicy: true,
        created: nowIso(),
      });
    } else {
      for (const item of localHubs) store.putHub({ ...item, hostname: localHostname });
    }
    if (firstStart) {
      const now = nowIso();
      const group: Enrollment = {
        kind: "group",
        id: DEFAULT_GROUP_ID,
        attestation: {
          type: "symmetricKey",
          primaryKey: randomBytes(64).toString("base64"),
          secondaryKey: randomBytes(64).toString("base64"),
        },
        enabled: true,
        credentialPolicy: DEFAULT_POLICY,
        allocationPolicy: "hashed",
        reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
        etag: newEtag(),
        createdDateTimeUtc: now,
        lastUpdatedDateTimeUtc: now,
      };
      store.putEnrollment(group);
      store.addEvent(now, "enrollment.created", group.id, {
        kind: "group",
        attestation: "symmetricKey",
        default: true,
      });
    }

    const urlHost = isIP(host) === 6 ? `[${host}]` : host;
    const httpUrl = `http://${urlHost === "0.0.0.0" || urlHost === "[::]" ? "127.0.0.1" : urlHost}:${http.port}`;
    const dpsHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
    const buildConfig = (): SimConfig => ({
      version: 1,
      pid: process.pid,
      dataDir,
      idScope: instance.idScope,
      dps: {
        host: dpsHost,
        port: dps.port,
        endpoint: `${isIP(dpsHost) === 6 ? `[${dpsHost}]` : dpsHost}:${dps.port}`,
        wsPort: dps.wsPort,
        wsUrl: `wss://${isIP(dpsHost) === 6 ? `[${dpsHost}]` : dpsHost}:${dps.wsPort}${WEBSOCKET_PATH}`,
        apiVersions: [...API_VERSIONS],
      },
      hubs: store
        .listHubs()
        .filter((item) => item.local)
        .map((item) => ({
          name: item.name,
          hostname: item.hostname,
          host: dpsHost,
          port: hub.port,
          wsPort: hub.wsPort,
          wsUrl: `wss://${isIP(dpsHost) === 6 ? `[${dpsHost}]` : dpsHost}:${hub.wsPort}${WEBSOCKET_PATH}`,
        })),
      http: { url: httpUrl, adminUrl: `${httpUrl}/admin`, dashboardUrl: `${httpUrl}/dashboard/` },
      trustedCaFile: tls.rootFile,
      // The default group first, then the others by id.
      enrollmentGroups: (store.listEnrollments("group") as EnrollmentGroup[])
        .sort((a, b) => Number(b.id === DEFAULT_GROUP_ID) - Number(a.id === DEFAULT_GROUP_ID))
        .map((group) => ({
          id: group.id,
          attestation: group.attestation.type,
          ...(group.attestation.type === "symmetricKey"
            ? { primaryKey: group.attestation.primaryKey, secondaryKey: group.attestation.secondaryKey }
            : { caName: group.attestation.caName }),
          credentialPolicy: group.credentialPolicy ?? null,
          enabled: group.enabled,
        })),
      adr: {
        baseUrl: httpUrl,
        subscriptionId: adr.subscriptionId,
        resourceGroup: adr.resourceGroup,
        namespace: adr.name,
        token: adr.token,
        apiVersion: ADR_API_VERSION,
        namespaceId: adrService.namespaceId,
        credentialPolicies: store
          .listPolicies(adr.name)
          .map((policy) => ({ name: policy.name, validityDays: policy.validityDays })),
        rootCaFile: join(adrDir, "credential-root.pem"),
      },
      settings: { ...settings },
    });
    const writeConfig = async (): Promise<void> => {
      await writeFileAtomic(configFile, `${JSON.stringify(currentConfig, null, 2)}\n`, { mode: 0o600 });
    };
    currentConfig = buildConfig();
    options.signal?.throwIfAborted();
    await writeConfig();
    cleanups.push(() => rm(configFile, { force: true }));
    store.addEvent(nowIso(), "simulator.started", instance.idScope, { ...ports, firstStart });
    logger.info("simulator started", { idScope: instance.idScope, ...ports, dataDir });

    let closing: Promise<void> | undefined;
    return {
      get config() {
        return currentConfig as SimConfig;
      },
      configFile,
      close() {
        closing ??= (async () => {
          try {
            store.addEvent(nowIso(), "simulator.stopped", instance.idScope, {});
          } catch {
            // the store may already be unusable; closing goes on
          }
          await runCleanups();
          logger.info("simulator stopped", { dataDir });
        })();
        return closing;
      },
    };
  } catch (error) {
    await runCleanups();
    if (error instanceof SimulatorError || options.signal?.aborted) throw error;
    throw new SimulatorError(
      "SIM_START_FAILED",
      `The simulator could not start: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

function closeHttp(server: Server): Promise<void> {
  return new Promise((resolvePromise) => {
    server.close(() => resolvePromise());
    server.closeAllConnections();
  });
}
