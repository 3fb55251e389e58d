import { X509Certificate } from "node:crypto";
import { certificateFacts, createCsr, generateKeyPair, privateKeyToPem } from "@skittlesorter/csr";
import { tempDir } from "@skittlesorter/test-utils";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../cli/program.ts";
import type { SimConfigOnDisk } from "../config.ts";
import {
  type ProvisionedDevice,
  provisionDevice,
  runCli,
  startTestSim,
  type TestSim,
} from "../sim.test-support.ts";
import { startSimulator } from "../simulator.ts";
import { RENEWAL_API_VERSION } from "./credentials.ts";

interface Answer {
  topic: string;
  status: number;
  body: Record<string, unknown>;
}

// `$iothub/credentials` over real MQTT/TLS with a raw mqtt.js client, so every answer can be checked as sent.
describe("certificate renewal through the hub", () => {
  let sim: TestSim;
  let hubUrl: string;
  let hostName: string;

  beforeAll(async () => {
    sim = await startTestSim();
    const hub = sim.config.hubs[0];
    if (hub === undefined) throw new Error("no hub in sim.json");
    hubUrl = `mqtts://127.0.0.1:${hub.port}`;
    hostName = hub.hostname;
  });
  afterAll(() => sim?.close());

  async function connect(
    deviceId: string,
    cert: { cert: string; key: string },
    apiVersion = RENEWAL_API_VERSION,
  ): Promise<MqttClient & { answers: Answer[]; next(rid: string): Promise<Answer> }> {
    const client = await connectAsync(hubUrl, {
      clientId: deviceId,
      username: `${hostName}/${deviceId}/?api-version=${apiVersion}`,
      ...cert,
      ca: sim.rootPem,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    const answers: Answer[] = [];
    const waiters: (() => void)[] = [];
    client.on("message", (topic, payload) => {
      const status = Number(topic.split("/")[3]);
      answers.push({ topic, status, body: JSON.parse(payload.toString("utf8") || "{}") });
      for (const wake of waiters.splice(0)) wake();
    });
    const next = async (rid: string): Promise<Answer> => {
      for (;;) {
        const index = answers.findIndex((answer) => answer.topic.includes(`$rid=${rid}`));
        if (index >= 0) return answers.splice(index, 1)[0] as Answer;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    return Object.assign(client, { answers, next });
  }

  const request = (client: MqttClient, rid: string, body: unknown): Promise<unknown> =>
    client.publishAsync(
      `$iothub/credentials/POST/issueCertificate/?$rid=${rid}`,
      typeof body === "string" ? body : JSON.stringify(body),
      { qos: 1 },
    );

  async function newCsr(commonName: string) {
    const keyPair = await generateKeyPair("ec-p256");
    const csr = await createCsr(commonName, keyPair);
    return { keyPair, wire: csr.wire };
  }

  async function provisioned(name: string): Promise<ProvisionedDevice & { cert: string; key: string }> {
    const device = await provisionDevice(sim, name, { csr: true });
    return { ...device, cert: device.chainPem ?? "", key: device.keyPem ?? "" };
  }

  it("answers 202, then 200 with a chain from the device's policy; records it; the hub accepts it next time", async () => {
    const device = await provisioned("renew-happy-01");
    const client = await connect(device.deviceId, device);
    await client.subscribeAsync("$iothub/credentials/res/#", { qos: 1 });
    const { keyPair, wire } = await newCsr(device.deviceId);
    await request(client, "r-1", { id: device.deviceId, csr: wire });

    const accepted = await client.next("r-1");
    expect(accepted.topic).toBe("$iothub/credentials/res/202/?$rid=r-1");
    expect(accepted.body).toEqual({
      correlationId: expect.any(String),
      operationExpires: expect.any(String),
    });
    const issued = await client.next("r-1");
    expect(issued.status).toBe(200);
    expect(issued.body.correlationId).toBe(accepted.body.correlationId);
    const chain = issued.body.certificates as string[];
    expect(chain).toHaveLength(3);
    const leaf = new X509Certificate(Buffer.from(chain[0] ?? "", "base64"));
    expect(leaf.subject).toBe(`CN=${device.deviceId}`);
    expect(leaf.publicKey.equals(keyPair.publicKey)).toBe(true);
    const oldLeaf = new X509Certificate(device.cert);
    expect(leaf.checkIssued(new X509Certificate(Buffer.from(chain[1] ?? "", "base64")))).toBe(true);
    expect(leaf.issuer).toBe(oldLeaf.issuer); // the same ADR policy issued both

    const serial = certificateFacts(leaf.toString()).serialNumber;
    const registration = await sim.admin.getRegistration(device.deviceId);
    expect(registration.issuedCertificateSerial).toBe(serial);
    const certificates = await (
      await fetch(`${sim.config.http.url}/admin/issued-certificates?registrationId=${device.deviceId}`)
    ).json();
    expect(certificates).toHaveLength(2);
    const renewals = await sim.admin.listRenewals({ device: device.deviceId });
    expect(renewals[0]).toMatchObject({
      requestId: "r-1",
      state: "issued",
      status: 200,
      serialNumber: serial,
    });
    const events = (await (await fetch(`${sim.config.http.url}/admin/events?limit=1000`)).json()) as {
      kind: string;
      subject: string;
      details: Record<string, unknown>;
    }[];
    expect(events).toContainEqual(
      expect.objectContaining({
        kind: "hub.certificateRenewed",
        subject: device.deviceId,
        details: expect.objectContaining({ requestId: "r-1", serialNumber: serial }),
      }),
    );

    // The live connection stays up; a new one with the new certificate is accepted (and replaces it).
    expect(client.connected).toBe(true);
    const pem = chain.map((der) => new X509Certificate(Buffer.from(der, "base64")).toString()).join("");
    const renewed = await connect(device.deviceId, { cert: pem, key: privateKeyToPem(keyPair.privateKey) });
    expect(renewed.connected).toBe(true);
    const view = await sim.admin.getDevice(device.deviceId);
    expect(view.certificate?.notAfter).toBe(new Date(leaf.validTo).toISOString());
    await renewed.endAsync();
    await client.endAsync();
  });

  it("allows one request per device in flight: 409 at once, replace cancels, 412 when nothing to replace", async () => {
    const device = await provisioned("renew-conflict-01");
    const client = await connect(device.deviceId, device);
    await client.subscribeAsync("$iothub/credentials/res/#", { qos: 1 });
    await sim.admin.setRenewalDelay(600_000);
    try {
      const { wire } = await newCsr(device.deviceId);
      await request(client, "first", { id: device.deviceId, csr: wire });
      const accepted = await client.next("first");
      expect(accepted.status).toBe(202);

      await request(client, "second", { id: device.deviceId, csr: wire });
      const conflict = await client.next("second");
      expect(conflict.topic).toBe("$iothub/credentials/res/409/?$rid=second");
      expect(conflict.body).toMatchObject({
        errorCode: 409004,
        message: expect.stringContaining("already active"),
        trackingId: expect.any(String),
        timestampUtc: expect.any(String),
        info: { requestId: "first", correlationId: accepted.body.correlationId },
      });
      // The same request sent again (after a dropped PUBACK) conflicts with itself, naming itself.
      await request(client, "first", { id: device.deviceId, csr: wire });
      expect((await client.next("first")).body).toMatchObject({
        errorCode: 409004,
        info: { requestId: "first" },
      });

      await request(client, "third", { id: device.deviceId, csr: wire, replace: "*" });
      expect((await client.next("third")).status).toBe(202);
      const renewals = await sim.admin.listRenewals({ device: device.deviceId });
      // Newest first: the copy refused with 409, then the original, cancelled by "third".
      expect(renewals.filter((record) => record.requestId === "first").map((record) => record.state)).toEqual(
        ["refused", "cancelled"],
      );
      expect(renewals.find((record) => record.requestId === "third")?.state).toBe("pending");

      await request(client, "fourth", { id: device.deviceId, csr: wire, replace: "not-pending" });
      expect((await client.next("fourth")).body).toMatchObject({
        errorCode: 412001,
        info: { requestId: "not-pending" },
      });
      await sim.admin.setRenewalDelay(0);
      await request(client, "fifth", { id: device.deviceId, csr: wire, replace: "third" });
      expect((await client.next("fifth")).status).toBe(202);
      expect((await client.next("fifth")).status).toBe(200);
      expect(client.answers.filter((answer) => answer.topic.includes("third"))).toEqual([]);
    } finally {
      await sim.admin.setRenewalDelay(0);
      await client.endAsync();
    }
  });

  it("refuses bad requests as IoT Hub does: at once (400004/400006), or after the 202 for the CSR (400037)", async () => {
    const device = await provisioned("renew-invalid-01");
    const client = await connect(device.deviceId, device);
    await client.subscribeAsync("$iothub/credentials/res/#", { qos: 1 });
    const { wire } = await newCsr(device.deviceId);
    const cases: [string, unknown, number, string][] = [
      ["b1", "", 400004, "payload is missing"],
      ["b2", '{"id":', 400006, "cannot decode json"],
      ["b3", ["not", "an", "object"], 400004, "'id' field does not match"],
      ["b4", { id: "someone-else", csr: wire }, 400004, "'id' field does not match"],
      ["b5", { id: device.deviceId, csr: wire, extra: 1 }, 400004, "unknown field"],
      ["b6", { id: device.deviceId, csr: "" }, 400004, "'csr' field is invalid or missing"],
      ["b7", { id: device.deviceId, csr: "not-valid-base64!!" }, 400004, "not valid base64"],
      ["b8", { id: device.deviceId, csr: "A".repeat(10_000) }, 400004, "exceeds maximum"],
      [
        "b9",
        { id: device.deviceId, csr: wire, replace: "123" },
        400004,
        "'replace' field has an invalid format",
      ],
    ];
    for (const [rid, body, errorCode, message] of cases) {
      await request(client, rid, body);
      const answer = await client.next(rid);
      expect(answer.status, rid).toBe(400);
      expect(answer.body, rid).toMatchObject({ errorCode, message: expect.stringContaining(message) });
    }

    const wrongCn = await newCsr("not-the-device");
    await request(client, "cn", { id: device.deviceId, csr: wrongCn.wire });
    expect((await client.next("cn")).status).toBe(202);
    const refused = await client.next("cn");
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({
      errorCode: 400037,
      info: { credentialError: "400000", credentialMessage: expect.stringContaining('"not-the-device"') },
    });
    // The refusal ended the request: the next one is accepted.
    await request(client, "ok", { id: device.deviceId, csr: wire });
    expect((await client.next("ok")).status).toBe(202);
    expect((await client.next("ok")).status).toBe(200);
    await client.endAsync();
  });

  it("answers injected 429 (with retry-after) and 503 for the next N requests or for one device", async () => {
    const device = await provisioned("renew-faults-01");
    const client = await connect(device.deviceId, device);
    await client.subscribeAsync("$iothub/credentials/res/#", { qos: 1 });
    const { wire } = await newCsr(device.deviceId);
    const body = { id: device.deviceId, csr: wire };
    await sim.admin.addRenewalFault({ status: 429, count: 2, retryAfterSeconds: 3 });
    await sim.admin.addRenewalFault({ status: 503, deviceId: device.deviceId });
    try {
      for (const rid of ["t1", "t2"]) {
        await request(client, rid, body);
        const throttled = await client.next(rid);
        expect(throttled.topic).toBe(`$iothub/credentials/res/429/?$rid=${rid}&retry-after=3`);
        expect(throttled.body).toMatchObject({ errorCode: 429002 });
      }
      for (const rid of ["u1", "u2"]) {
        await request(client, rid, body);
        const unavailable = await client.next(rid);
        expect(unavailable.topic).toBe(`$iothub/credentials/res/503/?$rid=${rid}`);
        expect(unavailable.body).toMatchObject({ errorCode: 503001 });
      }
      expect((await sim.admin.clearRenewalFaults()).faults).toEqual([]);
      await request(client, "v", body);
      expect((await client.next("v")).status).toBe(202);
      expect((await client.next("v")).status).toBe(200);
    } finally {
      await sim.admin.clearRenewalFaults();
      await client.endAsync();
    }
  });

  it("refuses the credentials subscription to a connection without the preview api-version", async () => {
    const device = await provisioned("renew-classic-01");
    const client = await connect(device.deviceId, device, "2021-04-12");
    const granted = await client.subscribeAsync("$iothub/credentials/res/#", { qos: 1 }).then(
      (grants) => grants.map((grant) => grant.qos),
      (error: { packet?: { granted?: number[] } }) => error.packet?.granted,
    );
    expect(granted).toEqual([128]);
    await client.endAsync();
  });

  it("says what is wrong with bad renewal knobs", async () => {
    const put = await fetch(`${sim.config.http.url}/admin/renewals/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ delayMs: -1 }),
    });
    expect(put.status).toBe(400);
    expect(await put.text()).toMatch(/renewal delay must be a whole number of milliseconds 0-600000/);
    const post = await fetch(`${sim.config.http.url}/admin/renewals/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ status: 500 }),
    });
    expect(post.status).toBe(400);
    expect(await post.text()).toMatch(/status must be 429 or 503, got 500/);
    await expect(startSimulator({ renewalFaults: [{ status: 429, count: 0 }] })).rejects.toThrow(
      /renewalFaults: a renewal fault's count must be a whole number >= 1, got 0/,
    );
  });
});

describe("skittle-sim start: renewal knobs", () => {
  it("--renewal-delay-ms, --renewal-fault and --renewal-retry-after reach the hub; a bad fault is named", async () => {
    await using dir = await tempDir("skittle-sim-renewal-");
    const bad = await runCli(["start", "--data-dir", dir.path, "--renewal-fault", "500:2"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--renewal-fault.*STATUS\[:COUNT\] with STATUS 429 or 503/);

    const stop = new AbortController();
    let stdout = "";
    const io = {
      stdout: (text: string) => {
        stdout += text;
      },
      stderr: () => {},
    };
    const running = main(
      ["start", "--data-dir", dir.path, "--dps-port", "0", "--hub-port", "0", "--hub-ws-port", "0"].concat(
        ["--http-port", "0", "--json", "--log-level", "silent", "--renewal-delay-ms", "1500"],
        ["--renewal-fault", "429:2", "--renewal-fault", "503", "--renewal-retry-after", "4"],
      ),
      { io, signal: stop.signal },
    );
    try {
      while (!stdout.includes("\n")) await new Promise((resolve) => setTimeout(resolve, 20));
      const ready = JSON.parse(stdout.split("\n")[0] ?? "") as SimConfigOnDisk;
      const settings = await (await fetch(`${ready.http.url}/admin/renewals/settings`)).json();
      expect(settings).toEqual({
        delayMs: 1500,
        faults: [
          { status: 429, count: 2, retryAfterSeconds: 4 },
          { status: 503, count: 1, retryAfterSeconds: 4 },
        ],
      });
    } finally {
      stop.abort();
      expect(await running).toBe(0);
    }
  });
});
