// A device on skittle-sim's IoT Hub for the adapter tests: provisioned through DPS (symmetric key, optionally with
// a CSR), reached through a loopback TCP proxy that can cut every connection (a network failure, the hub stays up).
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { symmetricKeyAttestation } from "@skittlesorter/attestation";
import { createCsr, generateKeyPair, privateKeyToPem } from "@skittlesorter/csr";
import { provision } from "@skittlesorter/dps-mqtt";
import { type Simulator, startSimulator } from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import type { HubClientHarness, StoredTelemetry } from "./conformance.ts";
import type { HubConnector, HubCredentials } from "./connection.ts";
import { throwawayDeviceCertificate } from "./x509.test-support.ts";

export interface SimHub {
  sim: Simulator;
  /** PEM root of the simulator's TLS certificates. */
  ca: string;
  /** Provisions `registrationId` and returns its hub credentials, `host:port` of the proxy in front of the hub. */
  provisionDevice(registrationId: string, type: HubCredentials["type"]): Promise<HubCredentials>;
  /** Cuts every connection through the proxy. */
  interrupt(): void;
  /** Holds back, until the next interrupt, what the hub sends on the open connections (answers that never come). */
  holdHubReplies(): void;
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/** A TCP proxy to `port` on loopback that can destroy every connection it carries, or hold back the hub's replies. */
async function tcpProxy(
  port: number,
): Promise<{ port: number; cut(): void; holdReplies(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  /** The hub's end of each connection, with the device's end it pipes to. */
  const upstreams = new Map<Socket, Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
  };
  const server: Server = createServer((client) => {
    const upstream = new (client.constructor as typeof Socket)();
    track(client);
    track(upstream);
    upstreams.set(upstream, client);
    upstream.on("close", () => upstreams.delete(upstream));
    upstream.connect(port, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    const cutBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", cutBoth);
    upstream.on("close", cutBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const cut = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as AddressInfo).port,
    cut,
    holdReplies: () => {
      for (const [upstream, client] of upstreams) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    close: async () => {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function startSimHub(): Promise<SimHub> {
  const dir: TempDir = await tempDir("hub-client-sim-");
  const sim = await startSimulator({ dataDir: join(dir.path, "sim") });
  const ca = await readFile(sim.config.trustedCaFile, "utf8");
  const hub = sim.config.hubs[0];
  const groupKey = sim.config.enrollmentGroups[0]?.primaryKey;
  if (hub === undefined || groupKey === undefined)
    throw new Error("the simulator has no hub or enrollment group");
  const proxy = await tcpProxy(hub.port);

  return {
    sim,
    ca,
    async provisionDevice(registrationId, type) {
      const attestation = symmetricKeyAttestation({ registrationId, groupKey });
      const keyPair = type === "x509" ? await generateKeyPair("ec-p384") : undefined;
      const result = await provision({
        host: sim.config.dps.host,
        port: sim.config.dps.port,
        idScope: sim.config.idScope,
        attestation,
        ca,
        minRetryAfterMs: 0,
        maxRetryAfterMs: 0,
        ...(keyPair === undefined
          ? {}
          : { csr: { wire: (await createCsr(registrationId, keyPair)).wire, publicKey: keyPair.publicKey } }),
      });
      const hostName = `localhost:${proxy.port}`;
      if (keyPair === undefined) {
        return { type: "sas", hostName, deviceId: result.deviceId, sharedAccessKey: attestation.deviceKey };
      }
      return {
        type: "x509",
        hostName,
        deviceId: result.deviceId,
        certificatePem: result.issuedCertificateChain?.bundle ?? "",
        privateKeyPem: privateKeyToPem(keyPair.privateKey),
      };
    },
    interrupt: () => proxy.cut(),
    holdHubReplies: () => proxy.holdReplies(),
    async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await fetch(`${sim.config.http.url}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
      return JSON.parse(text) as T;
    },
    async close() {
      await proxy.close();
      await sim.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** Credentials of the same device that the hub refuses: a wrong key, or a certificate it did not issue. */
export async function refusedVariant(credentials: HubCredentials): Promise<HubCredentials> {
  if (credentials.type === "sas") {
    return { ...credentials, sharedAccessKey: Buffer.alloc(32, 7).toString("base64") };
  }
  return { ...credentials, ...(await throwawayDeviceCertificate(credentials.deviceId)) };
}

interface TelemetryView {
  id: number;
  body: string;
  systemProperties: Record<string, string>;
  properties: Record<string, string>;
}

/** The conformance harness for `connector` and `credentials` on the simulator's hub. */
export async function simHarness(
  simHub: SimHub,
  connector: HubConnector,
  credentials: HubCredentials,
): Promise<HubClientHarness> {
  const device = encodeURIComponent(credentials.deviceId);
  return {
    connector,
    credentials,
    refusedCredentials: await refusedVariant(credentials),
    telemetry: async () =>
      (await simHub.admin<TelemetryView[]>("GET", `/admin/telemetry?device=${device}&limit=10000`))
        .sort((a, b) => a.id - b.id)
        .map(
          (view): StoredTelemetry => ({
            body: view.body,
            messageId: view.systemProperties.messageId,
            correlationId: view.systemProperties.correlationId,
            contentType: view.systemProperties.contentType,
            contentEncoding: view.systemProperties.contentEncoding,
            properties: view.properties,
          }),
        ),
    reported: async () => {
      const twin = await simHub.admin<{ properties: { reported: Record<string, unknown> } }>(
        "GET",
        `/admin/devices/${device}/twin`,
      );
      return twin.properties.reported;
    },
    pushDesired: async (patch) => {
      await simHub.admin("PATCH", `/admin/devices/${device}/twin`, { properties: { desired: patch } });
    },
    invoke: (methodName, payload) =>
      simHub.admin("POST", `/admin/devices/${device}/methods`, {
        methodName,
        payload,
        responseTimeoutInSeconds: 15,
        connectTimeoutInSeconds: 15,
      }),
    interrupt: async () => simHub.interrupt(),
  };
}
