// The hub-mqtt connector's certificate renewal and reconnect refusals, against the scripted IoT Hub of
// @skittlesorter/test-utils (real MQTT over TLS on loopback), whose scripts give answers on demand (a hub without
// certificate management, arbitrary final errors, refusals on reconnect). Against skittle-sim itself:
// hub-mqtt-renewal.sim.test.ts.

import { X509Certificate } from "node:crypto";
import { createCsr, generateKeyPair, privateKeyToPem } from "@skittlesorter/csr";
import { createTestPki, type TestPki } from "@skittlesorter/test-utils/scripted-dps";
import {
  type ScriptedHub,
  type ScriptedHubOptions,
  startScriptedHub,
} from "@skittlesorter/test-utils/scripted-hub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  azureIotDeviceConnector,
  type HubClientError,
  type HubConnection,
  type HubCredentials,
  hubMqttConnector,
} from "./index.ts";
import { MemoryHub } from "./testing.ts";

const deviceId = "skittle-renew-001";
const deviceKey = Buffer.alloc(32, 7).toString("base64");

let pki: TestPki;
const hubs: ScriptedHub[] = [];
const connections: HubConnection[] = [];

beforeAll(async () => {
  pki = await createTestPki();
});

afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  await Promise.all(hubs.map((hub) => hub.close()));
  await pki?.[Symbol.asyncDispose]();
});

async function hubWith(options: Partial<ScriptedHubOptions> = {}): Promise<ScriptedHub> {
  const hub = await startScriptedHub({ pki, ...options });
  hubs.push(hub);
  return hub;
}

const sasOn = (hub: ScriptedHub): HubCredentials => ({
  type: "sas",
  hostName: `localhost:${hub.port}`,
  deviceId,
  sharedAccessKey: deviceKey,
});

async function connectTo(
  hub: ScriptedHub,
  credentials: HubCredentials = sasOn(hub),
  options: Parameters<typeof hubMqttConnector>[0] = {},
): Promise<HubConnection> {
  const connection = await hubMqttConnector({
    ca: pki.rootPem,
    connectTimeoutMs: 20_000,
    ...options,
  }).connect(credentials);
  connections.push(connection);
  return connection;
}

async function renewalCsr() {
  const keyPair = await generateKeyPair("ec-p256");
  const csr = await createCsr(deviceId, keyPair);
  return { keyPair, csr: { wire: csr.wire, publicKey: keyPair.publicKey } };
}

describe("renewCertificate", () => {
  it("is offered by hub-mqtt connections only, so callers can feature-detect it", async () => {
    const hub = await hubWith();
    expect(typeof (await connectTo(hub)).renewCertificate).toBe("function");
    const memory = await new MemoryHub().connect({ ...sasOn(hub), hostName: "memory" });
    expect(memory.renewCertificate).toBeUndefined();
    // The official SDK cannot publish on $iothub/credentials: its connections have no renewCertificate either.
    const official = await azureIotDeviceConnector({ ca: pki.rootPem }).connect(sasOn(hub));
    try {
      expect(official.renewCertificate).toBeUndefined();
    } finally {
      await official.close();
    }
  });

  it("renews through the hub (202, then 200) and the device connects with the issued certificate", async () => {
    const hub = await hubWith({ requestCert: true });
    const connection = await connectTo(hub);
    const { keyPair, csr } = await renewalCsr();
    const renewed = await connection.renewCertificate?.(csr);
    expect(renewed).toBeDefined();
    const leaf = new X509Certificate(renewed?.certificatePem as string);
    expect(leaf.subject).toContain(`CN=${deviceId}`);
    expect(leaf.publicKey.equals(keyPair.publicKey)).toBe(true);
    expect(renewed?.notAfter.toISOString()).toBe(new Date(leaf.validTo).toISOString());
    expect(renewed?.requestId).toBe(hub.credentialRequests[0]?.rid);
    expect(hub.sent.map((sent) => sent.topic)).toEqual(
      expect.arrayContaining([
        `$iothub/credentials/res/202/?$rid=${renewed?.requestId}`,
        `$iothub/credentials/res/200/?$rid=${renewed?.requestId}`,
      ]),
    );

    const again = await connectTo(hub, {
      type: "x509",
      hostName: `localhost:${hub.port}`,
      deviceId,
      certificatePem: renewed?.certificatePem as string,
      privateKeyPem: privateKeyToPem(keyPair.privateKey),
    });
    await again.send({ body: "with the renewed certificate", messageId: "renewed-1" });
    expect(hub.connections.at(-1)?.peerFingerprint256).toBe(leaf.fingerprint256);
    expect(hub.telemetry.at(-1)?.payload.toString()).toBe("with the renewed certificate");
  });

  it("rejects with HUB_REJECTED (reason HUB_RENEWAL_UNSUPPORTED) when the hub has no certificate management", async () => {
    const hub = await hubWith({ refuseSubscriptions: ["$iothub/credentials/res/#"] });
    const connection = await connectTo(hub);
    await connection.send({ body: "telemetry still flows" });
    await expect(connection.renewCertificate?.((await renewalCsr()).csr)).rejects.toMatchObject({
      name: "HubClientError",
      code: "HUB_REJECTED",
      reason: "HUB_RENEWAL_UNSUPPORTED",
      deviceId,
      message: expect.stringContaining("Renew through DPS"),
    });
  });

  it("rejects a final error answer with HUB_REJECTED and the hub's statusCode, errorCode and trackingId", async () => {
    const hub = await hubWith({
      credentials: () => [
        {
          status: 409,
          body: {
            errorCode: 409004,
            message: "already active",
            trackingId: "t-409",
            info: { requestId: "r1" },
          },
        },
      ],
    });
    const connection = await connectTo(hub);
    await expect(connection.renewCertificate?.((await renewalCsr()).csr)).rejects.toMatchObject({
      code: "HUB_REJECTED",
      reason: "HUB_REQUEST_REJECTED",
      statusCode: 409,
      errorCode: 409004,
      trackingId: "t-409",
    });
  });

  it("fails a second renewal fast while one is in flight (HUB_REJECTED, reason HUB_RENEWAL_IN_PROGRESS)", async () => {
    const hub = await hubWith({ credentials: () => "silence" });
    const connection = await connectTo(hub);
    const controller = new AbortController();
    const first = connection.renewCertificate?.((await renewalCsr()).csr, { signal: controller.signal });
    await hub.waitFor(() => hub.credentialRequests[0]);
    await expect(connection.renewCertificate?.((await renewalCsr()).csr)).rejects.toMatchObject({
      code: "HUB_REJECTED",
      reason: "HUB_RENEWAL_IN_PROGRESS",
    });
    const reason = new Error("stop waiting");
    controller.abort(reason);
    await expect(first).rejects.toBe(reason);
    expect(hub.credentialRequests).toHaveLength(1);
  });

  it("refuses a CSR for another device with HUB_INVALID_OPTION, and rejects with HUB_CLOSED after close()", async () => {
    const hub = await hubWith();
    const connection = await connectTo(hub);
    const keyPair = await generateKeyPair("ec-p256");
    const foreign = await createCsr("someone-else", keyPair);
    await expect(
      connection.renewCertificate?.({ wire: foreign.wire, publicKey: keyPair.publicKey }),
    ).rejects.toMatchObject({ code: "HUB_INVALID_OPTION", reason: "HUB_INVALID_OPTIONS" });
    await connection.close();
    await expect(connection.renewCertificate?.((await renewalCsr()).csr)).rejects.toMatchObject({
      code: "HUB_CLOSED",
    });
    expect(hub.credentialRequests).toHaveLength(0);
  });
});

describe("reconnect: true", () => {
  it("reports a reconnect the hub refuses once through onDisconnect (HUB_UNAUTHORIZED) and stays broken", async () => {
    const hub = await hubWith({ authenticate: (connection) => (connection.index > 0 ? 5 : undefined) });
    const connection = await connectTo(hub, sasOn(hub), {
      reconnect: true,
      initialBackoffMs: 10,
      maxBackoffMs: 20,
    });
    const lost: HubClientError[] = [];
    const disconnected = new Promise<void>((resolve) =>
      connection.onDisconnect((error) => {
        lost.push(error);
        resolve();
      }),
    );
    hub.liveConnection()?.drop();
    await disconnected;
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ code: "HUB_UNAUTHORIZED", reason: "CONNACK 5" });
    await expect(connection.send({ body: "after the refusal" })).rejects.toMatchObject({
      code: "HUB_UNAUTHORIZED",
    });
  });
});

describe("reconnect: true, operations", () => {
  it("gives up a send that waited too long for the next connection, and does not send it after the reconnect", async () => {
    let available = true;
    const hub = await hubWith({ authenticate: () => (available ? undefined : 3) });
    const connection = await connectTo(hub, sasOn(hub), {
      reconnect: true,
      initialBackoffMs: 10,
      maxBackoffMs: 20,
      operationTimeoutMs: 300,
    });
    const lost: HubClientError[] = [];
    connection.onDisconnect((error) => lost.push(error));
    available = false;
    hub.liveConnection()?.drop();
    await expect(connection.send({ body: "timed out", messageId: "m-timed-out" })).rejects.toMatchObject({
      code: "HUB_TIMEOUT",
    });
    available = true;
    const before = hub.connections.length;
    await hub.waitFor(() => (hub.connections.length > before ? true : undefined));
    await connection.send({ body: "after", messageId: "m-after" });
    expect(hub.telemetry.map((record) => record.payload.toString())).toEqual(["after"]);
    expect(lost).toEqual([]);
  });
});
