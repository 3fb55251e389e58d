// The `sim.json` contract (DESIGN §4): what a running simulator tells its clients, and `sim.config` in code.
import { isIP } from "node:net";
import { ADR_API_VERSION } from "./adr/arm.ts";
import type { AdrService } from "./adr/service.ts";
import { API_VERSIONS } from "./dps/protocol.ts";
import { serviceConnectionString as dpsServiceConnectionString, serviceKey } from "./dps/service-api/auth.ts";
import {
  EDGE_HOST_NAME,
  EDGE_HTTPS_PORT as HTTPS_PORT,
  EDGE_MQTT_PORT as MQTTS_PORT,
} from "./edge/endpoints.ts";
import { ensureServicePolicy, serviceConnectionString } from "./hub/service-api/auth.ts";
import { WEBSOCKET_PATH } from "./net/mqtt-listeners.ts";
import type { AdrNamespace, EnrollmentGroup, Settings } from "./state/model.ts";
import { adrCaName } from "./state/pki.ts";
import type { Store } from "./state/store.ts";
import type { KeyVault } from "./state/vault.ts";

export const SIM_JSON = "sim.json";
export const DEFAULT_GROUP_ID = "skittlesorter";

export interface SimEnrollmentGroupInfo {
  id: string;
  attestation: "symmetricKey" | "x509";
  primaryKey?: string;
  secondaryKey?: string;
  caName?: string;
  credentialPolicy: string | null;
  enabled: boolean;
}

/** The `sim.json` contract (DESIGN §4); in memory the same object without the file paths. */
export interface SimConfig {
  version: 1;
  pid: number;
  /**
   * Edge mode: every endpoint on the host name `localhost` with Azure's ports (MQTT 8883, HTTPS and WebSocket 443),
   * so URLs and endpoints carry no port; hubs' `hostname` is a bare `localhost`.
   */
  edge: boolean;
  /** The data directory; absent in memory. */
  dataDir?: string;
  idScope: string;
  dps: {
    host: string;
    port: number;
    /** `host:port`, usable as the official client's global endpoint. */
    endpoint: string;
    wsPort: number;
    wsUrl: string;
    apiVersions: string[];
    /**
     * The DPS service REST API's `provisioningserviceowner` connection string (HostName = the HTTPS host, with
     * `:port` unless it is 443: the official service SDK only dials 443, so it needs edge mode).
     */
    serviceConnectionString: string;
  };
  /** The simulator's own hub: `hostname` (= DPS `assignedHub`), MQTT/TLS `port`, MQTT over WebSocket `wsUrl`. */
  hubs: {
    name: string;
    hostname: string;
    host: string;
    port: number;
    wsPort: number;
    wsUrl: string;
    /** `HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…` for the hub's service REST API (at `https.url`). */
    serviceConnectionString: string;
  }[];
  /** Admin API (`adminUrl`), dashboard (`dashboardUrl`). */
  http: { url: string; adminUrl: string; dashboardUrl: string };
  /** The Azure-facing REST APIs over TLS (trust `trustedCa`): `url` is `https://host:port`; ADR is at `adr.baseUrl`. */
  https: { port: number; url: string };
  /** PEM of the root to trust for the simulator's TLS (DPS, hub). */
  trustedCa: string;
  /** Absolute path of the same PEM; absent in memory. */
  trustedCaFile?: string;
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
    rootCa: string;
    /** Absolute path of the same PEM; absent in memory. */
    rootCaFile?: string;
  };
  settings: Settings;
}

/** The config of a simulator with a data directory: every path is there. */
export interface SimConfigOnDisk extends SimConfig {
  dataDir: string;
  trustedCaFile: string;
  adr: SimConfig["adr"] & { rootCaFile: string };
}

/** What the config is built from; the store and the listening ports are read each time. */
export interface ConfigSources {
  store: Store;
  vault: KeyVault;
  dataDir: string | undefined;
  host: string;
  edge: boolean;
  idScope: string;
  namespace: AdrNamespace;
  adr: AdrService;
  trustedCa: string;
  trustedCaFile: string | undefined;
  ports: { dps: number; dpsWs: number; hub: number; hubWs: number; http: number; https: number };
  settings(): Settings;
}

function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** The address clients dial: a wildcard bind address becomes loopback. */
export function clientHost(host: string): string {
  return host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
}

function enrollmentGroupsOf(store: Store): SimEnrollmentGroupInfo[] {
  // The default group first, then the others by id.
  return (store.listEnrollments("group") as EnrollmentGroup[])
    .sort((a, b) => Number(b.id === DEFAULT_GROUP_ID) - Number(a.id === DEFAULT_GROUP_ID))
    .map((group) => ({
      id: group.id,
      attestation: group.attestation.type,
      ...(group.attestation.type === "symmetricKey"
        ? { primaryKey: group.attestation.primaryKey, secondaryKey: group.attestation.secondaryKey }
        : group.attestation.caName === undefined
          ? {}
          : { caName: group.attestation.caName }),
      credentialPolicy: group.credentialPolicy ?? null,
      enabled: group.enabled,
    }));
}

/** `host:port`, or the bare host when `port` is the scheme's own (as Azure's endpoints are written). */
function authority(host: string, port: number, defaultPort: number): string {
  return port === defaultPort ? host : `${host}:${port}`;
}

/** The current `sim.json` object. */
export function buildConfig(sources: ConfigSources): SimConfig {
  const { store, ports, namespace } = sources;
  const dialHost = sources.edge ? EDGE_HOST_NAME : clientHost(sources.host);
  const host = urlHost(dialHost);
  const httpUrl = `http://${host}:${ports.http}`;
  const rootCaFile = sources.vault.pathOf(adrCaName(namespace.name, "credential-root.pem"));
  // Paths are left out (not set to undefined) in memory: `sim.config` has no such keys then, as sim.json would not.
  return {
    version: 1,
    pid: process.pid,
    edge: sources.edge,
    ...(sources.dataDir === undefined ? {} : { dataDir: sources.dataDir }),
    idScope: sources.idScope,
    dps: {
      host: dialHost,
      port: ports.dps,
      endpoint: authority(host, ports.dps, MQTTS_PORT),
      wsPort: ports.dpsWs,
      wsUrl: `wss://${authority(host, ports.dpsWs, HTTPS_PORT)}${WEBSOCKET_PATH}`,
      apiVersions: [...API_VERSIONS],
      serviceConnectionString: dpsServiceConnectionString(
        authority(host, ports.https, HTTPS_PORT),
        serviceKey(store),
      ),
    },
    hubs: store
      .listHubs()
      .filter((item) => item.local)
      .map((item) => ({
        name: item.name,
        hostname: item.hostname,
        host: dialHost,
        port: ports.hub,
        wsPort: ports.hubWs,
        wsUrl: `wss://${authority(host, ports.hubWs, HTTPS_PORT)}${WEBSOCKET_PATH}`,
        serviceConnectionString: serviceConnectionString(
          item.hostname,
          ensureServicePolicy(store, item.name).primaryKey,
        ),
      })),
    http: { url: httpUrl, adminUrl: `${httpUrl}/admin`, dashboardUrl: `${httpUrl}/dashboard/` },
    https: { port: ports.https, url: `https://${authority(host, ports.https, HTTPS_PORT)}` },
    trustedCa: sources.trustedCa,
    ...(sources.trustedCaFile === undefined ? {} : { trustedCaFile: sources.trustedCaFile }),
    enrollmentGroups: enrollmentGroupsOf(store),
    adr: {
      baseUrl: `https://${host}:${ports.https}`,
      subscriptionId: namespace.subscriptionId,
      resourceGroup: namespace.resourceGroup,
      namespace: namespace.name,
      token: namespace.token,
      apiVersion: ADR_API_VERSION,
      namespaceId: sources.adr.namespaceId,
      credentialPolicies: store
        .listPolicies(namespace.name)
        .map((policy) => ({ name: policy.name, validityDays: policy.validityDays })),
      rootCa: namespace.rootCaPem,
      ...(rootCaFile === undefined ? {} : { rootCaFile }),
    },
    settings: { ...sources.settings() },
  };
}
