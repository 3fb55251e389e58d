// Wires the simulated services to their wire edges: the admin HTTP server, the Azure REST HTTPS server, and the DPS
// and hub MQTT endpoints.
import type { Server } from "node:http";
import { registerDashboardRoutes } from "./admin/dashboard.ts";
import { registerAdminRoutes } from "./admin/routes.ts";
import { AdrService } from "./adr/service.ts";
import { registerAzureRoutes } from "./azure-routes.ts";
import type { Ports, SimState } from "./bootstrap.ts";
import { createDpsBackend, startDpsEndpoint } from "./dps/mqtt.ts";
import { DpsService } from "./dps/service.ts";
import { EDGE_HTTPS_PORT, EDGE_MQTT_PORT, startEdgeMqtt } from "./edge/endpoints.ts";
import { edgeListenError } from "./edge/listen-errors.ts";
import { SimulatorError } from "./errors.ts";
import { registerCloudToDeviceRoutes } from "./hub/c2d-routes.ts";
import { CertificateRenewals } from "./hub/credentials.ts";
import { registerRenewalRoutes } from "./hub/credentials-routes.ts";
import { registerModuleAdminRoutes } from "./hub/module-routes.ts";
import { createHubBackend, startHubEndpoint } from "./hub/mqtt.ts";
import { registerHubRoutes } from "./hub/routes.ts";
import { HubService } from "./hub/service.ts";
import { Router, startJsonServer } from "./net/http.ts";
import { DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, type StartSimulatorOptions } from "./options.ts";
import type { SimContext } from "./state/context.ts";

/** Runs cleanups in reverse order of registration; a failing one is logged and the rest still run. */
export class Cleanups {
  readonly #steps: (() => Promise<void> | void)[] = [];
  readonly #warn: (message: string, fields: Record<string, unknown>) => void;

  constructor(warn: (message: string, fields: Record<string, unknown>) => void) {
    this.#warn = warn;
  }

  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        this.#warn("cleanup failed", { error: (error as Error).message });
      }
    }
  }
}

export interface Services {
  adr: AdrService;
  hub: HubService;
  dps: DpsService;
  renewals: CertificateRenewals;
}

/** The domain services, sharing the store. */
export function createServices(
  context: SimContext,
  state: SimState,
  options: StartSimulatorOptions,
): Services {
  const { store, clock, logger } = context;
  const { namespace } = state;
  const adr = new AdrService({
    store,
    clock,
    logger,
    namespace: {
      name: namespace.name,
      subscriptionId: namespace.subscriptionId,
      resourceGroup: namespace.resourceGroup,
    },
  });
  adr.trust(); // first start, or a data directory of part 1: the existing policies are synchronized
  const hub = new HubService({
    store,
    clock,
    logger,
    adr,
    maxTelemetryMessages: options.maxTelemetryMessages ?? 100_000,
  });
  const dps = new DpsService({
    store,
    idScope: state.instance.idScope,
    adrNamespace: namespace.name,
    keys: context.vault,
    settings: context.settings,
    clock,
    logger,
    maxRequestBytes: options.maxRequestBytes ?? 64 * 1024,
    onAssigned: ({ deviceId, hub: assignedHub, enrollment }) =>
      adr.recordProvisioned({ deviceId, hub: assignedHub, credentialPolicy: enrollment.credentialPolicy }),
  });
  const renewals = new CertificateRenewals({
    store,
    clock,
    logger,
    keys: context.vault,
    adr,
    adrNamespace: namespace.name,
    settings: context.settings,
    link: (deviceId) => hub.link(deviceId),
    device: (deviceId) => hub.device(deviceId),
    delayMs: options.renewalDelayMs,
    faults: options.renewalFaults,
  });
  return { adr, hub, dps, renewals };
}

function closeHttp(server: Server): Promise<void> {
  return new Promise((resolvePromise) => {
    server.close(() => resolvePromise());
    server.closeAllConnections();
  });
}

/** The admin API, the live stream and the dashboard on one HTTP server. */
async function startHttp(
  context: SimContext,
  services: Services,
  state: SimState,
  options: StartSimulatorOptions & { host: string },
): Promise<{ server: Server; port: number }> {
  const router = new Router();
  registerAdminRoutes(router, context);
  router.add("POST", "/admin/adr/synchronize", () => ({ body: services.adr.synchronize("admin-api") }));
  registerHubRoutes(router, {
    context,
    hub: services.hub,
    adr: services.adr,
    maxStreamBufferBytes: options.maxStreamBufferBytes ?? 1024 * 1024,
  });
  registerRenewalRoutes(router, services.renewals);
  registerCloudToDeviceRoutes(router, { hub: services.hub });
  registerModuleAdminRoutes(router, { hub: services.hub });
  await registerDashboardRoutes(router);
  const port = options.httpPort ?? state.previousPorts.http ?? 0;
  return startJsonServer({
    host: options.host,
    port,
    router,
    logger: context.logger,
    maxBodyBytes: 1024 * 1024,
    allowedHostNames: options.allowedHostNames,
  }).catch((error: NodeJS.ErrnoException) => {
    throw new SimulatorError(
      "SIM_LISTEN_FAILED",
      error.code === "EADDRINUSE"
        ? `The admin HTTP port ${options.host}:${port} is in use; pass --http-port 0 for any free port.`
        : `Cannot listen for the admin HTTP API: ${error.message}`,
      { cause: error },
    );
  });
}

/** The Azure-facing REST APIs on one HTTPS server, with the simulator's TLS certificate. */
async function startHttps(
  context: SimContext,
  services: Services,
  state: SimState,
  options: StartSimulatorOptions & { host: string },
): Promise<{ server: Server; port: number }> {
  const router = new Router();
  registerAzureRoutes(router, { context, services, state, options });
  const port =
    options.edge === true ? EDGE_HTTPS_PORT : (options.httpsPort ?? state.previousPorts.https ?? 0);
  return startJsonServer({
    host: options.host,
    port,
    router,
    logger: context.logger,
    maxBodyBytes: 1024 * 1024,
    allowedHostNames: options.allowedHostNames,
    tls: {
      cert: state.tls.certificateChainPem,
      key: state.tls.keyPem,
      // Asked for, not required: X.509 devices over HTTPS (DPS) and MQTT over WebSocket (edge mode) present one;
      // the route checks it, not TLS.
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: options.tlsHandshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
    },
  }).catch((error: NodeJS.ErrnoException) => {
    if (options.edge === true) {
      throw edgeListenError(error, options.host, port, "HTTPS and MQTT over WebSocket");
    }
    throw new SimulatorError(
      "SIM_LISTEN_FAILED",
      error.code === "EADDRINUSE"
        ? `The HTTPS port ${options.host}:${port} is in use; pass --https-port 0 for any free port.`
        : `Cannot listen for the Azure REST APIs over HTTPS: ${error.message}`,
      { cause: error },
    );
  });
}

/** Starts every endpoint; registers how to stop each with `cleanups`; resolves to the ports they listen on. */
export async function startEndpoints(
  context: SimContext,
  services: Services,
  state: SimState,
  options: StartSimulatorOptions & { host: string },
  cleanups: Cleanups,
): Promise<Ports> {
  const http = await startHttp(context, services, state, options);
  cleanups.add(() => closeHttp(http.server));
  const https = await startHttps(context, services, state, options);
  cleanups.add(() => closeHttp(https.server));
  cleanups.add(() => services.renewals.close());
  const common = {
    host: options.host,
    tls: state.tls,
    logger: context.logger,
    maxPacketBytes: options.maxPacketBytes ?? 256 * 1024,
    tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
  };
  if (options.edge === true) {
    const backendOptions = { ...common, port: EDGE_MQTT_PORT, wsPort: EDGE_HTTPS_PORT };
    const edge = await startEdgeMqtt({
      ...common,
      httpsServer: https.server,
      dps: await createDpsBackend({ ...backendOptions, service: services.dps }),
      hub: await createHubBackend({
        ...backendOptions,
        service: services.hub,
        credentials: services.renewals,
        nowIso: context.nowIso,
      }),
    });
    cleanups.add(() => edge.close());
    const [mqtt, ws] = [EDGE_MQTT_PORT, https.port];
    return { dps: mqtt, dpsWs: ws, hub: mqtt, hubWs: ws, http: http.port, https: https.port };
  }
  const previous = state.previousPorts;
  try {
    const dps = await startDpsEndpoint({
      ...common,
      port: options.dpsPort ?? previous.dps ?? 0,
      wsPort: options.dpsWsPort ?? previous.dpsWs ?? 0,
      service: services.dps,
    });
    cleanups.add(() => dps.close());
    const hub = await startHubEndpoint({
      ...common,
      port: options.hubPort ?? previous.hub ?? 0,
      wsPort: options.hubWsPort ?? previous.hubWs ?? 0,
      service: services.hub,
      credentials: services.renewals,
      nowIso: context.nowIso,
    });
    cleanups.add(() => hub.close());
    return {
      dps: dps.port,
      dpsWs: dps.wsPort,
      hub: hub.port,
      hubWs: hub.wsPort,
      http: http.port,
      https: https.port,
    };
  } catch (error) {
    throw new SimulatorError("SIM_LISTEN_FAILED", (error as Error).message, { cause: error });
  }
}
