// The official-SDK adapter against skittle-sim's IoT Hub (real MQTT over TLS on loopback), X.509 and SAS.

import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { azureIotDeviceConnector, type HubCredentials, isHubClientError } from "./index.ts";
import { type SimHub, simHarness, startSimHub } from "./sim.test-support.ts";
import { hubClientConformance } from "./testing.ts";

let simHub: SimHub;
const devices: Partial<Record<HubCredentials["type"], HubCredentials>> = {};

beforeAll(async () => {
  simHub = await startSimHub();
  devices.x509 = await simHub.provisionDevice("hub-client-x509", "x509");
  devices.sas = await simHub.provisionDevice("hub-client-sas", "sas");
}, 120_000);

afterAll(async () => {
  await simHub?.close();
});

const connector = () => azureIotDeviceConnector({ ca: simHub.ca, connectTimeoutMs: 20_000 });

for (const type of ["x509", "sas"] as const) {
  describe(`azureIotDeviceConnector on skittle-sim (${type}): hub client conformance`, () => {
    for (const check of hubClientConformance(() =>
      simHarness(simHub, connector(), devices[type] as HubCredentials),
    )) {
      it(check.name, () => check.run());
    }
  });
}

/** A TCP server that accepts connections and never answers (a hub that hangs). */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<import("node:net").Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("azureIotDeviceConnector errors", () => {
  it("reports the hub's certificate as untrusted without the simulator's root, with Node's code as reason", async () => {
    const error = await azureIotDeviceConnector({ connectTimeoutMs: 20_000 })
      .connect(devices.x509 as HubCredentials)
      .catch((caught: unknown) => caught);
    expect(isHubClientError(error)).toBe(true);
    expect(error).toMatchObject({
      code: "HUB_TLS_UNTRUSTED",
      reason: "SELF_SIGNED_CERT_IN_CHAIN",
      deviceId: "hub-client-x509",
      message: expect.stringContaining("pass its root as `ca`"),
    });
  });

  it("reports a refused SAS key as HUB_UNAUTHORIZED from the CONNACK code, without the key in the message", async () => {
    const sas = devices.sas as HubCredentials & { type: "sas" };
    const wrongKey = Buffer.alloc(32, 9).toString("base64");
    const error = await connector()
      .connect({ ...sas, sharedAccessKey: wrongKey })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "HUB_UNAUTHORIZED", reason: "CONNACK 5" });
    expect(String((error as Error).message)).not.toContain(wrongKey);
  });

  it("reports a closed port as HUB_UNREACHABLE (ECONNREFUSED)", async () => {
    const server = await silentServer();
    await server.close();
    await expect(
      connector().connect({ ...(devices.sas as HubCredentials), hostName: `localhost:${server.port}` }),
    ).rejects.toMatchObject({ code: "HUB_UNREACHABLE", reason: "ECONNREFUSED" });
  });

  it("gives up a connect the hub never answers with HUB_TIMEOUT", async () => {
    const server = await silentServer();
    try {
      await expect(
        azureIotDeviceConnector({ ca: simHub.ca, connectTimeoutMs: 300 }).connect({
          ...(devices.sas as HubCredentials),
          hostName: `localhost:${server.port}`,
        }),
      ).rejects.toMatchObject({ code: "HUB_TIMEOUT" });
    } finally {
      await server.close();
    }
  });

  it("refuses unusable options and credentials with HUB_INVALID_OPTION before loading the SDK", async () => {
    expect(() => azureIotDeviceConnector({ operationTimeoutMs: 0 })).toThrow(
      /operationTimeoutMs must be a positive/,
    );
    await expect(
      connector().connect({ ...(devices.sas as HubCredentials), deviceId: "a;b" }),
    ).rejects.toMatchObject({ code: "HUB_INVALID_OPTION" });
  });
});

describe("azureIotDeviceConnector close", () => {
  // TLS sockets show as TCPSocketWrap; the simulator runs in this process, so its ends count too.
  const openTlsSockets = () =>
    process.getActiveResourcesInfo().filter((kind) => kind === "TCPSocketWrap").length;

  it("leaves no socket open and calls no listener when closed while the twin is still being set up", async () => {
    const before = openTlsSockets();
    const connection = await connector().connect(devices.x509 as HubCredentials);
    const desired: unknown[] = [];
    connection.onDesired((patch) => desired.push(patch));
    await connection.reportTwin({ closing: true });
    await connection.close();
    // Before the fix, the desired-property set-up still in flight made the SDK connect again after close().
    for (let i = 0; i < 50 && openTlsSockets() > before; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    expect(openTlsSockets()).toBeLessThanOrEqual(before);
    expect(desired).toEqual([]);
  });
});
