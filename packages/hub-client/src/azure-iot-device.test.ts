// The official-SDK adapter against skittle-sim's IoT Hub (real MQTT over TLS on loopback), X.509 and SAS.

import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectErrorCases } from "./connect-errors.test-support.ts";
import { azureIotDeviceConnector, type HubCredentials } from "./index.ts";
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

describe("azureIotDeviceConnector errors", () => {
  connectErrorCases({
    simHub: () => simHub,
    devices: () => ({
      x509: devices.x509 as HubCredentials,
      sas: devices.sas as HubCredentials & { type: "sas" },
    }),
    connector: (options) => azureIotDeviceConnector(options),
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

describe("azureIotDeviceConnector operations waiting when the connection ends", () => {
  // The SDK never settles a twin request whose answer is lost with the connection: before the fix only the operation
  // timeout ended such a report (HUB_TIMEOUT), and the sorter's reports on its next connection waited behind it.
  const connectWithReportInFlight = async (tag: string) => {
    const credentials = devices.sas as HubCredentials;
    const harness = await simHarness(simHub, connector(), credentials);
    const connection = await azureIotDeviceConnector({
      ca: simHub.ca,
      connectTimeoutMs: 20_000,
      operationTimeoutMs: 20_000,
    }).connect(credentials);
    await connection.reportTwin({ lostAnswer: tag });
    simHub.holdHubReplies();
    const settled: string[] = [];
    const report = connection.reportTwin({ lostAnswer: `${tag} held` });
    report.catch(() => undefined).finally(() => settled.push("report"));
    // The hub applied the patch; its answer is held back.
    await waitUntil(async () => (await harness.reported()).lostAnswer === `${tag} held`);
    return { connection, report, settled };
  };

  it("reject with HUB_UNREACHABLE when the connection is lost", async () => {
    const { connection, report } = await connectWithReportInFlight("lost");
    try {
      simHub.interrupt();
      await expect(report).rejects.toMatchObject({ code: "HUB_UNREACHABLE" });
    } finally {
      await connection.close();
    }
  });

  it("reject with HUB_CLOSED before close() resolves", async () => {
    const { connection, report, settled } = await connectWithReportInFlight("closed");
    try {
      await connection.close();
      settled.push("close");
      await expect(report).rejects.toMatchObject({ code: "HUB_CLOSED" });
      expect(settled).toEqual(["report", "close"]);
    } finally {
      simHub.interrupt();
    }
  });
});

async function waitUntil(probe: () => Promise<boolean>): Promise<void> {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe("azureIotDeviceConnector memory", () => {
  /** The mqtt-packet the SDK's MQTT.js writes with, found as the adapter finds it. */
  const sdkPacketNumbers = () => {
    const fromSdk = createRequire(createRequire(import.meta.url).resolve("azure-iot-mqtt-base"));
    const fromMqtt = createRequire(fromSdk.resolve("mqtt"));
    return fromMqtt("mqtt-packet/numbers") as { cache: Record<number, Buffer> };
  };

  it("sends without filling mqtt-packet's cache of 65,536 number buffers", async () => {
    const connection = await connector().connect(devices.sas as HubCredentials);
    try {
      await connection.send({ body: "one" });
      await connection.send({ body: "two" });
    } finally {
      await connection.close();
    }
    expect(Object.keys(sdkPacketNumbers().cache)).toHaveLength(0);
  });
});
