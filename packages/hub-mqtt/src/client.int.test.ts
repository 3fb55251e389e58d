import { X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { verifySasToken } from "@skittlesorter/attestation";
import type { Logger } from "@skittlesorter/core";
import { deferred } from "@skittlesorter/core";
import { createCsr, generateKeyPair, privateKeyToPem, publicKeyToPem } from "@skittlesorter/csr";
import {
  createTestPki,
  type TestPki,
  type WarpClock,
  warpClock,
} from "@skittlesorter/test-utils/scripted-dps";
import {
  type CredentialsScript,
  type HubReply,
  type ScriptedHub,
  type ScriptedHubOptions,
  standardCredentials,
  startScriptedHub,
} from "@skittlesorter/test-utils/scripted-hub";
import { type MqttClient, connect as mqttConnect } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type C2dMessage,
  connectHub,
  HubClient,
  type HubClientOptions,
  type HubCredentials,
  HubError,
  type HubEvents,
  isHubError,
  type MqttConnect,
} from "./index.ts";

const deviceId = "skittle-001";
const hostName = "skittle-hub.azure-devices.net";
const deviceKey = Buffer.alloc(32, 7).toString("base64");

let pki: TestPki;
const servers: ScriptedHub[] = [];
const clients: HubClient[] = [];

beforeAll(async () => {
  pki = await createTestPki();
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(servers.map((hub) => hub.close()));
  await pki?.[Symbol.asyncDispose]();
});

async function hubWith(options: Partial<ScriptedHubOptions> = {}): Promise<ScriptedHub> {
  const hub = await startScriptedHub({ pki, ...options });
  servers.push(hub);
  return hub;
}

interface Recorder {
  connect: MqttConnect;
  clients: MqttClient[];
}

const BASELINE_EVENTS = ["message", "error", "close", "connect"] as const;
/** Listener counts of each client right after mqtt.connect made it (mqtt.js adds some of its own). */
const baselines = new WeakMap<MqttClient, number[]>();

/** The real mqtt.connect, remembering every client so tests can check they were ended and left clean. */
function recorder(): Recorder {
  const made: MqttClient[] = [];
  return {
    clients: made,
    connect(options) {
      const client = mqttConnect(options);
      baselines.set(
        client,
        BASELINE_EVENTS.map((event) => client.listenerCount(event)),
      );
      made.push(client);
      return client;
    },
  };
}

function captureLogger(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: unknown): void => {
      lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    };
  return {
    text: () => lines.join("\n"),
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
  };
}

async function x509Credentials(id = deviceId): Promise<HubCredentials & { kind: "x509" }> {
  const { certPem, keyPem } = await pki.deviceCertificate(id);
  return { kind: "x509", certificatePem: certPem + pki.icaPem, privateKeyPem: keyPem };
}

/** Virtual time at 1 % speed: retry waits of seconds take milliseconds. Generous bounds for a busy machine. */
function optionsFor(
  hub: ScriptedHub,
  credentials: HubCredentials,
  clock: WarpClock,
  extra: Partial<HubClientOptions> = {},
): HubClientOptions {
  return {
    hostName,
    connectHost: hub.host,
    port: hub.port,
    transport: hub.transport,
    deviceId,
    credentials,
    ca: pki.rootPem,
    clock,
    connectTimeoutMs: 1_000_000,
    requestTimeoutMs: 1_000_000,
    renewalTimeoutMs: 1_000_000,
    ...extra,
  };
}

async function connected(options: HubClientOptions & { signal?: AbortSignal }): Promise<HubClient> {
  const client = await connectHub(options);
  clients.push(client);
  return client;
}

function nextEvent<K extends keyof HubEvents>(client: HubClient, event: K): Promise<HubEvents[K]> {
  return new Promise((resolve) => {
    const off = client.on(event, (payload) => {
      off();
      resolve(payload);
    });
  });
}

async function renewalCsr(id = deviceId) {
  const keyPair = await generateKeyPair("ec-p256");
  const csr = await createCsr(id, keyPair);
  return { keyPair, csr: { wire: csr.wire, publicKey: keyPair.publicKey } };
}

function expectCleanMqttClients(made: readonly MqttClient[]): void {
  expect(made.length).toBeGreaterThan(0);
  for (const client of made) {
    expect(client.connected).toBe(false);
    expect(BASELINE_EVENTS.map((event) => client.listenerCount(event))).toEqual(baselines.get(client));
  }
}

describe("connect", () => {
  it("connects with X.509 (chain presented, CN = device id) and sends telemetry on the exact topic", async () => {
    const hub = await hubWith({ requestCert: true });
    const credentials = await x509Credentials();
    const client = await connected(optionsFor(hub, credentials, warpClock(0.01)));

    const [connection] = hub.connections;
    expect(connection?.clientId).toBe(deviceId);
    expect(connection?.username).toMatch(
      /^skittle-hub\.azure-devices\.net\/skittle-001\/\?api-version=2025-08-01-preview&DeviceClientType=skittlesorter-hub-mqtt%2F\d+\.\d+\.\d+$/,
    );
    expect(connection?.password).toBeUndefined();
    expect(connection?.clean).toBe(false);
    expect(connection?.peerCommonName).toBe(deviceId);
    expect(connection?.peerFingerprint256).toBe(
      new X509Certificate(credentials.certificatePem).fingerprint256,
    );

    await client.sendTelemetry('{"colour":"red"}', {
      messageId: "m-1",
      correlationId: "c 1",
      contentType: "application/json",
      contentEncoding: "utf-8",
      properties: { colour: "red", "odd key": "a&b=c" },
    });
    const [record] = hub.telemetry;
    expect(record?.topic).toBe(
      "devices/skittle-001/messages/events/%24.mid=m-1&%24.cid=c%201&%24.ct=application%2Fjson&%24.ce=utf-8&colour=red&odd%20key=a%26b%3Dc",
    );
    expect(record?.payload.toString()).toBe('{"colour":"red"}');
  });

  it("writes packets without mqtt-packet's process-wide cache of 65,536 number buffers", async () => {
    const hub = await hubWith({ requestCert: true });
    const rec = recorder();
    const options = optionsFor(hub, await x509Credentials(), warpClock(0.01), { connect: rec.connect });
    const client = await connected(options);
    await client.sendTelemetry("{}");
    expect(rec.clients[0]?.options.writeCache).toBe(false);
  });

  it("connects with a SAS token made from the device key, and never logs it", async () => {
    const hub = await hubWith();
    const { logger, text } = captureLogger();
    const clock = warpClock(0.01);
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, clock, { logger }));
    const password = hub.connections[0]?.password ?? "";
    const parsed = verifySasToken(password, deviceKey, {
      expectedResourceUri: `${hostName}/devices/${deviceId}`,
    });
    expect(parsed.sr).toBe("skittle-hub.azure-devices.net%2Fdevices%2Fskittle-001");
    await client.sendTelemetry("x");
    expect(hub.telemetry[0]?.topic).toBe("devices/skittle-001/messages/events/");
    await client.close();
    expect(text()).toContain("hub connected");
    expect(text()).not.toContain(parsed.signature);
    expect(text()).not.toContain(encodeURIComponent(parsed.signature));
    expect(text()).not.toContain(deviceKey);
  });

  it("connects over WebSocket (wss, /$iothub/websocket) and reads the twin", async () => {
    const hub = await hubWith({ transport: "wss", desired: { speed: 3 } });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    expect(hub.connections[0]?.clientId).toBe(deviceId);
    const twin = await client.getTwin();
    expect(twin.desired).toEqual({ speed: 3, $version: 1 });
    await client.sendTelemetry("over wss", { contentType: "text/plain" });
    expect(hub.telemetry[0]?.topic).toBe("devices/skittle-001/messages/events/%24.ct=text%2Fplain");
  });

  it("refuses X.509 credentials whose CN is not the device id, or whose key is not the certificate's", async () => {
    const hub = await hubWith();
    const other = await x509Credentials("someone-else");
    const mine = await x509Credentials();
    const clock = warpClock(0.01);
    await expect(connectHub(optionsFor(hub, other, clock))).rejects.toMatchObject({
      code: "HUB_INVALID_OPTIONS",
      message: expect.stringContaining('CN is "someone-else"'),
    });
    await expect(
      connectHub(optionsFor(hub, { ...mine, privateKeyPem: other.privateKeyPem }, clock)),
    ).rejects.toMatchObject({
      code: "HUB_INVALID_OPTIONS",
      message: expect.stringContaining("does not belong"),
    });
    expect(hub.connections).toHaveLength(0);
  });

  it("keeps trying while the hub refuses, reporting each failure, until it gets in", async () => {
    const hub = await hubWith({ authenticate: (connection) => (connection.index < 3 ? 3 : undefined) });
    const clock = warpClock(0.01);
    const failures: HubEvents["connectFailed"][] = [];
    const options = optionsFor(hub, { kind: "sas", deviceKey }, clock, { initialBackoffMs: 1_000 });
    const client = new HubClient(options);
    clients.push(client);
    client.on("connectFailed", (event) => failures.push(event));
    await client.waitUntilConnected();
    expect(failures.map((failure) => failure.attempt)).toEqual([1, 2, 3]);
    expect(failures.every((failure) => failure.error.code === "HUB_CONNECTION_FAILED")).toBe(true);
    // Backoff ceilings 1 s, 2 s, 4 s: each wait is in the upper half of its ceiling.
    expect(failures[0]?.delayMs).toBeGreaterThanOrEqual(500);
    expect(failures[2]?.delayMs).toBeGreaterThanOrEqual(2_000);
    expect(hub.connections).toHaveLength(4);
  });

  it("reports a CONNACK refusal as HUB_UNAUTHORIZED and stops when the caller gives up", async () => {
    const hub = await hubWith({ authenticate: () => 5 });
    const rec = recorder();
    const options = optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01), { connect: rec.connect });
    const client = new HubClient(options);
    const failures: HubEvents["connectFailed"][] = [];
    client.on("connectFailed", (event) => failures.push(event));
    const controller = new AbortController();
    const waiting = client.waitUntilConnected({ signal: controller.signal });
    await hub.waitFor(() => (failures.length >= 2 ? true : undefined));
    expect(failures[0]?.error.code).toBe("HUB_UNAUTHORIZED");
    expect(failures[0]?.error.message).toContain("skittle-001");
    const reason = new Error("operator gave up");
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await client.close();
    expectCleanMqttClients(rec.clients);

    // connectHub closes the client it made when its signal aborts.
    const second = recorder();
    const pending = connectHub({ ...options, connect: second.connect, signal: AbortSignal.abort(reason) });
    await expect(pending).rejects.toBe(reason);
    expect(second.clients).toHaveLength(0);
  });
});

describe("twin", () => {
  it("gets the twin, patches reported properties and receives desired-property patches", async () => {
    const hub = await hubWith({ desired: { threshold: 10 } });
    const client = await connected(optionsFor(hub, await x509Credentials(), warpClock(0.01)));
    const twin = await client.getTwin();
    expect(twin).toEqual({ desired: { threshold: 10, $version: 1 }, reported: { $version: 1 } });

    const { version } = await client.updateReportedProperties({ firmware: "1.2.3", sorted: { red: 4 } });
    expect(version).toBe(2);
    expect(hub.twin.reported).toEqual({ firmware: "1.2.3", sorted: { red: 4 } });
    expect(hub.twinRequests.map((request) => request.kind)).toEqual(["get", "patch"]);

    const desired = nextEvent(client, "desiredProperties");
    await hub.updateDesired({ threshold: 12 });
    expect(await desired).toEqual({ patch: { threshold: 12, $version: 2 }, version: 2 });
  });

  it("retries a 429 answer after retry-after, and rejects a 400 with the hub's error fields", async () => {
    let answered = 0;
    const hub = await hubWith({
      twin: (request) => {
        answered += 1;
        if (request.kind === "get" && answered === 1)
          return { status: 429, retryAfter: 3, body: { errorCode: 429001 } };
        if (request.kind === "patch")
          return { status: 400, body: { errorCode: 400004, message: "bad patch", trackingId: "t-1" } };
        return undefined;
      },
    });
    const clock = warpClock(0.01);
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, clock));
    await client.getTwin();
    expect(hub.twinRequests).toHaveLength(2);
    expect(hub.twinRequests[0]?.rid).not.toBe(hub.twinRequests[1]?.rid);
    expect(clock.requested).toContain(3_000);
    const error = await client.updateReportedProperties({ a: 1 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({
      code: "HUB_REQUEST_REJECTED",
      statusCode: 400,
      errorCode: 400004,
      trackingId: "t-1",
    });
  });
});

describe("direct methods and C2D", () => {
  it("answers a method with the handler's status and payload, 404 without a handler, 500 when it throws", async () => {
    const hub = await hubWith();
    const client = await connected(optionsFor(hub, await x509Credentials(), warpClock(0.01)));
    const off = client.onMethod("flash", ({ payload }) => ({ status: 200, payload: { flashed: payload } }));
    client.onMethod("broken", () => {
      throw new Error("secret detail");
    });
    expect(await hub.invokeMethod("flash", { times: 3 })).toEqual({
      status: 200,
      payload: { flashed: { times: 3 } },
    });
    expect(await hub.invokeMethod("missing", {})).toMatchObject({ status: 404 });
    const broken = await hub.invokeMethod("broken", {});
    expect(broken.status).toBe(500);
    expect(JSON.stringify(broken.payload)).not.toContain("secret detail");
    off();
    expect(await hub.invokeMethod("flash", {})).toMatchObject({ status: 404 });
  });

  it("receives a C2D message with application and system properties", async () => {
    const hub = await hubWith();
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    const received = nextEvent(client, "c2dMessage");
    await hub.sendC2d("recalibrate", {
      "$.mid": "msg-1",
      "$.cid": "corr 1",
      colour: "green",
      "with space": "a&b",
    });
    const message: C2dMessage = await received;
    expect(message.body.toString()).toBe("recalibrate");
    expect(message.properties).toEqual({ colour: "green", "with space": "a&b" });
    expect(message.system).toEqual({ "$.mid": "msg-1", "$.cid": "corr 1" });
  });
});

describe("renewCertificate", () => {
  it("requests with {id, csr}, takes 202 then 200 and returns the chain checked against the CSR", async () => {
    const hub = await hubWith({ requestCert: true });
    const client = await connected(optionsFor(hub, await x509Credentials(), warpClock(0.01)));
    const { keyPair, csr } = await renewalCsr();
    const result = await client.renewCertificate({ csr });
    expect(result.chain.pems).toHaveLength(3);
    expect(result.chain.certificates[0]?.commonName).toBe(deviceId);
    expect(publicKeyToPem(result.chain.certificates[0]?.publicKey as never)).toBe(
      publicKeyToPem(keyPair.publicKey),
    );
    expect(result.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    const [request] = hub.credentialRequests;
    expect(request?.topic).toBe(`$iothub/credentials/POST/issueCertificate/?$rid=${result.requestId}`);
    expect(request?.body).toEqual({ id: deviceId, csr: csr.wire });
    expect(
      hub.sent.filter((sent) => sent.topic.startsWith("$iothub/credentials/res/")).map((sent) => sent.topic),
    ).toEqual([
      `$iothub/credentials/res/202/?$rid=${result.requestId}`,
      `$iothub/credentials/res/200/?$rid=${result.requestId}`,
    ]);
  });

  it("accepts answers on the `…/res/{status}/{rid}` topic form as well", async () => {
    const standard = standardCredentials({ pki });
    const hub = await hubWith({
      credentials: async (request, h) => {
        const replies = await standard(request, h);
        return replies === "silence"
          ? replies
          : replies.map((reply): HubReply => ({ ...reply, topicForm: "path" }));
      },
    });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    const result = await client.renewCertificate({ csr: (await renewalCsr()).csr });
    expect(hub.sent.some((sent) => sent.topic === `$iothub/credentials/res/200/${result.requestId}`)).toBe(
      true,
    );
  });

  it("fails a second renewal fast while one is in flight, then allows one once it settled", async () => {
    const gate = deferred<void>();
    const standard = standardCredentials({ pki });
    const hub = await hubWith({
      credentials: async (request, h) => {
        await gate.promise;
        return standard(request, h);
      },
    });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    const first = client.renewCertificate({ csr: (await renewalCsr()).csr });
    await hub.waitFor(() => hub.credentialRequests[0]);
    const second = await client
      .renewCertificate({ csr: (await renewalCsr()).csr })
      .catch((error: unknown) => error);
    expect(isHubError(second)).toBe(true);
    expect(second).toMatchObject({ code: "HUB_RENEWAL_IN_PROGRESS" });
    expect(hub.credentialRequests).toHaveLength(1);
    gate.resolve();
    await first;
    await client.renewCertificate({ csr: (await renewalCsr()).csr });
    expect(hub.credentialRequests).toHaveLength(2);
  });

  it("retries 429 (from 1 s) and 503 (honouring retry-after) with a fresh $rid each time", async () => {
    const standard = standardCredentials({ pki });
    let calls = 0;
    const script: CredentialsScript = (request, h) => {
      calls += 1;
      if (calls === 1)
        return [{ status: 429, body: { errorCode: 429002, message: "throttled", trackingId: "t" } }];
      if (calls === 2)
        return [
          { status: 202, body: {} },
          { status: 503, retryAfter: 7, body: { errorCode: 503001 } },
        ];
      return standard(request, h);
    };
    const hub = await hubWith({ credentials: script });
    const clock = warpClock(0.01);
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, clock, { random: () => 0 }));
    const result = await client.renewCertificate({ csr: (await renewalCsr()).csr });
    expect(result.chain.pems).toHaveLength(3);
    const rids = hub.credentialRequests.map((request) => request.rid);
    expect(rids).toHaveLength(3);
    expect(new Set(rids).size).toBe(3);
    expect(clock.requested).toContain(1_000);
    expect(clock.requested).toContain(7_000);
  });

  it("keeps waiting when a 409 names this very request (a copy sent again after a drop)", async () => {
    const standard = standardCredentials({ pki });
    const hub = await hubWith({
      credentials: async (request, h) => {
        const replies = await standard(request, h);
        if (replies === "silence") return replies;
        const conflict: HubReply = {
          status: 409,
          body: { errorCode: 409004, message: "already active", info: { requestId: request.rid } },
        };
        return [conflict, ...replies];
      },
    });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    const result = await client.renewCertificate({ csr: (await renewalCsr()).csr });
    expect(result.chain.pems).toHaveLength(3);
    expect(hub.credentialRequests).toHaveLength(1);
  });

  it("rejects a final error answer (409) with the hub's fields and a hint to use replace", async () => {
    const hub = await hubWith({
      credentials: () => [
        {
          status: 409,
          body: {
            errorCode: 409004,
            message: "A credential management operation is already active.",
            trackingId: "t-409",
            info: { requestId: "123456", correlationId: "c-1" },
          },
        },
      ],
    });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    const error = await client
      .renewCertificate({ csr: (await renewalCsr()).csr })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: "HUB_REQUEST_REJECTED",
      statusCode: 409,
      errorCode: 409004,
      trackingId: "t-409",
      info: { requestId: "123456", correlationId: "c-1" },
      message: expect.stringContaining('replace: "*"'),
    });
  });

  it("rejects an issued chain whose leaf CN is not the device id, or whose key is not the CSR's", async () => {
    const stranger = await generateKeyPair("ec-p256");
    let mode: "cn" | "key" = "cn";
    const hub = await hubWith({
      credentials: standardCredentials({
        pki,
        issue: (csrWire) =>
          mode === "cn"
            ? pki.issue(csrWire, { commonName: "someone-else" })
            : pki.issue(csrWire, { forcePublicKeyPem: publicKeyToPem(stranger.publicKey) }),
      }),
    });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    const wrongCn = await client
      .renewCertificate({ csr: (await renewalCsr()).csr })
      .catch((caught: unknown) => caught);
    expect(wrongCn).toMatchObject({ code: "HUB_ISSUED_CHAIN_INVALID" });
    expect((wrongCn as HubError).problems?.join(" ")).toContain('"someone-else"');
    mode = "key";
    const wrongKey = await client
      .renewCertificate({ csr: (await renewalCsr()).csr })
      .catch((caught: unknown) => caught);
    expect(wrongKey).toMatchObject({ code: "HUB_ISSUED_CHAIN_INVALID" });
    expect((wrongKey as HubError).problems?.join(" ")).toContain("public key");
  });

  it("refuses a CSR whose CN is not the device id before sending anything", async () => {
    const hub = await hubWith();
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    await expect(
      client.renewCertificate({ csr: (await renewalCsr("other-device")).csr }),
    ).rejects.toMatchObject({
      code: "HUB_INVALID_OPTIONS",
    });
    expect(hub.credentialRequests).toHaveLength(0);
  });

  it("stays usable on a hub that refuses the credentials subscription, and says renewal is unavailable", async () => {
    const hub = await hubWith({ refuseSubscriptions: ["$iothub/credentials/res/#"] });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    await client.sendTelemetry("still here");
    expect(hub.telemetry).toHaveLength(1);
    await expect(client.renewCertificate({ csr: (await renewalCsr()).csr })).rejects.toMatchObject({
      code: "HUB_RENEWAL_UNSUPPORTED",
    });
    expect(hub.credentialRequests).toHaveLength(0);
  });

  it("refuses to renew on the classic api-version", async () => {
    const hub = await hubWith();
    const client = await connected(
      optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01), { apiVersion: "2021-04-12" }),
    );
    expect(hub.connections[0]?.username).toContain("?api-version=2021-04-12&");
    await expect(client.renewCertificate({ csr: (await renewalCsr()).csr })).rejects.toMatchObject({
      code: "HUB_RENEWAL_UNSUPPORTED",
    });
  });

  it("rejects with the abort reason, leaves no listener on the caller's signal, and frees the slot", async () => {
    const hub = await hubWith({ credentials: () => "silence" });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    const controller = new AbortController();
    const listeners = new Set<unknown>();
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners.add(args[1]);
      add(...args);
    }) as typeof add;
    controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners.delete(args[1]);
      remove(...args);
    }) as typeof remove;
    const pending = client.renewCertificate({ csr: (await renewalCsr()).csr, signal: controller.signal });
    await hub.waitFor(() => hub.credentialRequests[0]);
    const reason = new Error("stop");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(listeners.size).toBe(0);
    await expect(
      client.renewCertificate({ csr: (await renewalCsr()).csr, signal: AbortSignal.abort() }),
    ).rejects.toThrow();
  });
});

describe("reconnect", () => {
  it("reconnects after the hub drops the connection, with the certificate swapped in by setCredentials", async () => {
    const hub = await hubWith({ requestCert: true });
    const rec = recorder();
    const clock = warpClock(0.01);
    const client = await connected(optionsFor(hub, await x509Credentials(), clock, { connect: rec.connect }));
    const { keyPair, csr } = await renewalCsr();
    const renewed = await client.renewCertificate({ csr });
    client.setCredentials({
      kind: "x509",
      certificatePem: renewed.chain.bundle,
      privateKeyPem: privateKeyToPem(keyPair.privateKey),
    });
    // The renewal leaves the live connection alone.
    expect(hub.connections).toHaveLength(1);

    const disconnected = nextEvent(client, "disconnected");
    const reconnected = nextEvent(client, "connected");
    hub.connections[0]?.drop();
    await disconnected;
    await reconnected;
    expect(hub.connections).toHaveLength(2);
    expect(hub.connections[1]?.peerFingerprint256).toBe(
      new X509Certificate(renewed.chain.pems[0] as string).fingerprint256,
    );
    expect(hub.connections[1]?.clean).toBe(false);
    await client.sendTelemetry("after reconnect");
    expect(hub.telemetry.at(-1)?.connection.index).toBe(1);
    await client.close();
    expectCleanMqttClients(rec.clients);
  });

  it("sends telemetry queued while disconnected once the connection is back", async () => {
    let refuse = false;
    const hub = await hubWith({ authenticate: () => (refuse ? 3 : undefined) });
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    refuse = true;
    const disconnected = nextEvent(client, "disconnected");
    hub.connections[0]?.drop();
    await disconnected;
    const failed = nextEvent(client, "connectFailed");
    const sending = client.sendTelemetry("queued");
    await failed;
    expect(hub.telemetry).toHaveLength(0);
    refuse = false;
    await sending;
    expect(hub.telemetry.map((record) => record.payload.toString())).toEqual(["queued"]);
  });
});

describe("reconnect()", () => {
  it("drops the live connection and connects again at once", async () => {
    const hub = await hubWith();
    const client = await connected(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    const reconnected = nextEvent(client, "connected");
    client.reconnect();
    await reconnected;
    expect(hub.connections).toHaveLength(2);
    await client.sendTelemetry("again");
    expect(hub.telemetry[0]?.connection.index).toBe(1);
  });

  it("reports refused twin/method/C2D subscriptions as HUB_PROTOCOL_ERROR and keeps trying", async () => {
    const hub = await hubWith({ refuseSubscriptions: ["$iothub/methods/POST/#"] });
    const client = new HubClient(optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01)));
    clients.push(client);
    const failure = await nextEvent(client, "connectFailed");
    expect(failure.error.code).toBe("HUB_PROTOCOL_ERROR");
    expect(client.connected).toBe(false);
    await client.close();
  });

  it("bounds each attempt: a server that never sends CONNACK fails the attempt after connectTimeoutMs, and the next follows", async () => {
    const sockets = new Set<TLSSocket>();
    const silent = createTlsServer({ cert: pki.serverCertPem, key: pki.serverKeyPem }, (socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const options = optionsFor(
        { host: "localhost", port, transport: "mqtts" } as ScriptedHub,
        { kind: "sas", deviceKey },
        warpClock(0.01),
        {
          connectTimeoutMs: 20_000,
        },
      );
      const client = new HubClient(options);
      clients.push(client);
      const failures: HubEvents["connectFailed"][] = [];
      const twoFailures = new Promise<void>((resolve) => {
        client.on("connectFailed", (event) => {
          failures.push(event);
          if (failures.length === 2) resolve();
        });
      });
      await twoFailures;
      expect(failures[0]?.error.message).toContain("within 20000 ms");
      expect(sockets.size).toBeGreaterThanOrEqual(1);
      await client.close();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("reports an untrusted server certificate as HUB_CONNECTION_FAILED", async () => {
    const hub = await hubWith();
    const client = new HubClient(
      optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01), { ca: pki.icaPem }),
    );
    clients.push(client);
    const failure = await nextEvent(client, "connectFailed");
    expect(failure.error.code).toBe("HUB_CONNECTION_FAILED");
    expect(failure.error.message).toContain("not trusted");
    expect(hub.connections).toHaveLength(0);
    await client.close();
  });
});

describe("close", () => {
  it("is idempotent, ends every connection, detaches every listener and rejects waiting work with HUB_CLOSED", async () => {
    let refuse = false;
    const hub = await hubWith({ authenticate: () => (refuse ? 3 : undefined) });
    const rec = recorder();
    const client = await connected(
      optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01), { connect: rec.connect }),
    );
    client.on("c2dMessage", () => {});
    client.on("desiredProperties", () => {});
    refuse = true;
    const disconnected = nextEvent(client, "disconnected");
    hub.connections[0]?.drop();
    await disconnected;
    const waiting = client.sendTelemetry("never sent");
    await Promise.all([client.close(), client.close()]);
    await expect(waiting).rejects.toMatchObject({ code: "HUB_CLOSED" });
    await expect(client.getTwin()).rejects.toMatchObject({ code: "HUB_CLOSED" });
    await expect(client.renewCertificate({ csr: (await renewalCsr()).csr })).rejects.toMatchObject({
      code: "HUB_CLOSED",
    });
    expect(client.connected).toBe(false);
    expect(client.listenerCount("c2dMessage")).toBe(0);
    expect(client.listenerCount("desiredProperties")).toBe(0);
    expectCleanMqttClients(rec.clients);
  });

  it("supports await using (Symbol.asyncDispose)", async () => {
    const hub = await hubWith();
    const rec = recorder();
    {
      await using client = await connectHub(
        optionsFor(hub, { kind: "sas", deviceKey }, warpClock(0.01), { connect: rec.connect }),
      );
      expect(client.connected).toBe(true);
    }
    expectCleanMqttClients(rec.clients);
  });
});
