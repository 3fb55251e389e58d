import { randomBytes, X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { deriveDeviceKey, symmetricKeyAttestation } from "@skittlesorter/attestation";
import { createCsr, csrToWire, generateKeyPair, type KeyType, publicKeysMatch } from "@skittlesorter/csr";
import { provision } from "@skittlesorter/dps-mqtt";
import { openssl, tempDir } from "@skittlesorter/test-utils";
import { connectAsync } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  groupSas,
  officialProvision,
  rawDevice,
  runCli,
  sasFor,
  startTestSim,
  type TestSim,
} from "../sim.test-support.ts";
import { startSimulator } from "../simulator.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

async function csrFor(registrationId: string, keyType: KeyType = "ec-p384") {
  const keyPair = await generateKeyPair(keyType);
  const csr = await createCsr(registrationId, keyPair);
  return { keyPair, wire: csr.wire };
}

function chainOf(reply: { body: Record<string, unknown> }): string[] {
  const state = reply.body.registrationState as { issuedCertificateChain?: string[] };
  return state.issuedCertificateChain ?? [];
}

describe("DPS over MQTT", () => {
  let sim: TestSim;
  beforeAll(async () => {
    sim = await startTestSim();
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("provisions the official Azure client with a key derived from the default group", async () => {
    const registrationId = "official-sym-1";
    const outcome = await officialProvision(sim, {
      registrationId,
      symmetricKey: deriveDeviceKey(sim.groupKey, registrationId),
    });
    expect(outcome).toMatchObject({
      ok: true,
      result: {
        registrationId,
        deviceId: registrationId,
        status: "assigned",
        substatus: "initialAssignment",
        assignedHub: sim.config.hubs[0]?.hostname,
        symmetricKey: { enrollmentGroupId: "skittlesorter" },
      },
    });
    const listed = await runCli(["registration", "list", "--data-dir", sim.dir.path, "--json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toContainEqual(
      expect.objectContaining({
        registrationId,
        status: "assigned",
        assignedHub: sim.config.hubs[0]?.hostname,
      }),
    );
  });

  it("issues [leaf, issuing CA, root] for an EC P-384 CSR that openssl verifies (dps-mqtt client)", async () => {
    const registrationId = "csr-p384-1";
    const { keyPair, wire } = await csrFor(registrationId);
    const result = await provision({
      host: sim.config.dps.host,
      port: sim.config.dps.port,
      idScope: sim.config.idScope,
      attestation: symmetricKeyAttestation({ registrationId, groupKey: sim.groupKey }),
      csr: { wire, publicKey: keyPair.publicKey },
      ca: sim.rootPem,
      minRetryAfterMs: 50,
      timeoutMs: 20_000,
    });
    const chain = result.issuedCertificateChain;
    expect(chain?.pems).toHaveLength(3);
    const [leafPem = "", icaPem = "", rootPem = ""] = chain?.pems ?? [];
    const files = {
      leaf: join(sim.dir.path, "leaf.pem"),
      ica: join(sim.dir.path, "ica.pem"),
      root: join(sim.dir.path, "root.pem"),
    };
    await writeFile(files.leaf, leafPem);
    await writeFile(files.ica, icaPem);
    await writeFile(files.root, rootPem);
    const verified = await openssl(["verify", "-CAfile", files.root, "-untrusted", files.ica, files.leaf]);
    expect(verified.stdout).toContain(": OK");
    const text = (await openssl(["x509", "-in", files.leaf, "-noout", "-text"])).stdout;
    expect(text).toContain("ecdsa-with-SHA384");
    expect(text).toContain("TLS Web Client Authentication");
    expect(text).toMatch(/Subject: CN ?= ?csr-p384-1/);

    const leaf = new X509Certificate(leafPem);
    expect(publicKeysMatch(leaf.publicKey, keyPair.publicKey)).toBe(true);
    const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / DAY_MS;
    expect(days).toBeGreaterThan(30);
    expect(days).toBeLessThan(30.01);
    expect(new X509Certificate(icaPem).publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(new X509Certificate(rootPem).publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");

    const issued = await sim.admin.get<{ registrationId: string; serialNumber: string }[]>(
      `/admin/issued-certificates?registrationId=${registrationId}`,
    );
    expect(issued).toEqual([
      expect.objectContaining({ registrationId, serialNumber: leaf.serialNumber.toUpperCase() }),
    ]);
  });

  it("issues for EC P-256 and RSA-2048 CSRs with the policy's validity; strict mode takes P-384 only", async () => {
    await sim.admin.request("PUT", "/admin/adr/policies/short", { body: { validityDays: 7 } });
    await sim.admin.request("PUT", "/admin/enrollment-groups/short-group", {
      body: { attestation: { type: "symmetricKey" }, credentialPolicy: "short" },
    });
    const group = await sim.admin.get<{ attestation: { primaryKey: string } }>(
      "/admin/enrollment-groups/short-group?includeSecrets=true",
    );
    for (const keyType of ["ec-p256", "rsa-2048"] as const) {
      const registrationId = `csr-${keyType}`;
      const device = await rawDevice(sim, {
        registrationId,
        password: sasFor(
          sim.config,
          registrationId,
          deriveDeviceKey(group.attestation.primaryKey, registrationId),
        ),
      });
      const { keyPair, wire } = await csrFor(registrationId, keyType);
      const reply = await device.registerUntilDone({ registrationId, csr: wire });
      await device.close();
      expect(reply.status).toBe(200);
      const leaf = new X509Certificate(Buffer.from(chainOf(reply)[0] ?? "", "base64"));
      expect(publicKeysMatch(leaf.publicKey, keyPair.publicKey)).toBe(true);
      expect(Math.round((Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / DAY_MS)).toBe(7);
    }

    await sim.admin.request("PATCH", "/admin/settings", { body: { strictCsr: true } });
    try {
      const registrationId = "csr-strict";
      const device = await rawDevice(sim, { registrationId, password: groupSas(sim, registrationId) });
      const reply = await device.register({
        registrationId,
        csr: (await csrFor(registrationId, "ec-p256")).wire,
      });
      const accepted = await device.registerUntilDone({
        registrationId,
        csr: (await csrFor(registrationId)).wire,
      });
      await device.close();
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({
        errorCode: 400004,
        info: { explanation: expect.stringContaining("P-384") },
      });
      expect(accepted.status).toBe(200);
    } finally {
      await sim.admin.request("PATCH", "/admin/settings", { body: { strictCsr: false } });
    }
  });

  it("assigns without a chain when the enrollment has no credential policy", async () => {
    const created = await sim.admin.request<{ attestation: { primaryKey: string } }>(
      "PUT",
      "/admin/enrollment-groups/no-policy?includeSecrets=true",
      { body: { attestation: { type: "symmetricKey" } } },
    );
    const registrationId = "csr-no-policy";
    const device = await rawDevice(sim, {
      registrationId,
      password: sasFor(
        sim.config,
        registrationId,
        deriveDeviceKey(created.body.attestation.primaryKey, registrationId),
      ),
    });
    const reply = await device.registerUntilDone({
      registrationId,
      csr: (await csrFor(registrationId)).wire,
    });
    await device.close();
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: "assigned", registrationState: { status: "assigned" } });
    expect(chainOf(reply)).toEqual([]);
  });

  it("answers bad CSRs with 400 and a message that says what is wrong", async () => {
    const registrationId = "csr-bad";
    const device = await rawDevice(sim, { registrationId, password: groupSas(sim, registrationId) });
    const good = await csrFor(registrationId);
    await using opensslDir = await tempDir();
    const sha1Key = join(opensslDir.path, "sha1.key");
    await openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", sha1Key]);
    const sha1Csr = csrToWire(
      (await openssl(["req", "-new", "-key", sha1Key, "-subj", `/CN=${registrationId}`, "-sha1"])).stdout,
    );
    const tampered = Buffer.from(good.wire, "base64");
    tampered[tampered.length - 2] = (tampered[tampered.length - 2] ?? 0) ^ 0x55;
    const cases: [unknown, number, RegExp][] = [
      ["not base64 at all!", 400004, /base64 of a DER PKCS#10/],
      [randomBytes(96).toString("base64"), 400004, /not a DER PKCS#10/],
      [
        `-----BEGIN CERTIFICATE REQUEST-----\n${good.wire}\n-----END CERTIFICATE REQUEST-----`,
        400004,
        /without PEM header/,
      ],
      [
        (await csrFor("someone-else")).wire,
        400004,
        /CN is "someone-else" but must be the registration id "csr-bad"/,
      ],
      [tampered.toString("base64"), 400004, /signature does not verify|not a DER/],
      [sha1Csr, 400004, /Invalid CSR: .*signed with ECDSA with SHA-1; sign it with SHA-256/],
      [12345, 400012, /csr must be a string/],
    ];
    for (const [csr, errorCode, message] of cases) {
      const reply = await device.register({ registrationId, csr });
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({
        errorCode,
        message: errorCode === 400004 ? "Invalid certificate signing request." : "Deserialization error.",
        info: { explanation: expect.stringMatching(message) },
      });
      expect(reply.body).toHaveProperty("trackingId");
      expect(reply.body).toHaveProperty("timestampUtc");
    }
    await device.close();

    const legacy = await rawDevice(sim, {
      registrationId,
      password: groupSas(sim, registrationId),
      apiVersion: "2019-03-31",
    });
    const reply = await legacy.register({ registrationId, csr: good.wire });
    const plain = await legacy.registerUntilDone({ registrationId });
    await legacy.close();
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({
      errorCode: 400012,
      info: { explanation: expect.stringContaining("2025-07-01-preview") },
    });
    expect(plain.status).toBe(200);
  });

  it("keeps registrations assigning for the configured delay: 202 + retry-after, then 200; $rid echoed verbatim", async () => {
    await sim.admin.request("PATCH", "/admin/settings", { body: { assignmentDelayMs: 1500 } });
    try {
      const registrationId = "delayed-1";
      const device = await rawDevice(sim, { registrationId, password: groupSas(sim, registrationId) });
      const rid = "rid.with~chars_1";
      const first = await device.register({ registrationId }, rid);
      expect(first).toMatchObject({ status: 202, rid, retryAfter: 2, body: { status: "assigning" } });
      const operationId = first.body.operationId as string;
      const early = await device.poll(operationId, "42");
      expect(early).toMatchObject({
        status: 202,
        rid: "42",
        body: {
          operationId,
          status: "assigning",
          registrationState: { registrationId, status: "assigning" },
        },
      });
      expect(early.retryAfter).toBeGreaterThanOrEqual(1);
      await new Promise((resolve) => setTimeout(resolve, 1600));
      const done = await device.poll(operationId);
      await device.close();
      expect(done).toMatchObject({
        status: 200,
        retryAfter: undefined,
        body: { operationId, status: "assigned" },
      });
    } finally {
      await sim.admin.request("PATCH", "/admin/settings", { body: { assignmentDelayMs: 0 } });
    }
  });

  it("answers malformed JSON, unknown topics, unknown operations and oversize payloads without disturbing others", async () => {
    const registrationId = "bad-input-1";
    const device = await rawDevice(sim, { registrationId, password: groupSas(sim, registrationId) });
    const notJson = await device.register("{not json");
    expect(notJson).toMatchObject({
      status: 400,
      body: { errorCode: 400012, info: { explanation: expect.stringContaining("not valid JSON") } },
    });
    const array = await device.register("[1,2]");
    expect(array).toMatchObject({ status: 400, body: { errorCode: 400012 } });
    const mismatch = await device.register({ registrationId: "somebody-else" });
    expect(mismatch).toMatchObject({ status: 400, body: { errorCode: 400007 } });
    const unknown = await device.request("$dps/registrations/POST/iotdps-whatever/?$rid=u1", "{}", "u1");
    expect(unknown).toMatchObject({
      status: 404,
      body: { errorCode: 404000, info: { explanation: expect.stringContaining("Unknown operation") } },
    });
    const noOperation = await device.poll("4.0000000000000000.not-an-operation");
    expect(noOperation).toMatchObject({ status: 404, body: { errorCode: 404001 } });
    const large = await device.register(JSON.stringify({ registrationId, payload: "x".repeat(70 * 1024) }));
    expect(large).toMatchObject({ status: 413, body: { errorCode: 413001 } });

    // A packet over the MQTT limit closes only that connection.
    const bystander = await rawDevice(sim, {
      registrationId: "bystander-1",
      password: groupSas(sim, "bystander-1"),
    });
    const closed = new Promise<void>((resolve) => device.client.once("close", () => resolve()));
    device.client.publish("$dps/registrations/PUT/iotdps-register/?$rid=big", Buffer.alloc(300 * 1024, 0x20));
    await closed;
    const fine = await bystander.registerUntilDone();
    await bystander.close();
    await device.close();
    expect(fine.status).toBe(200);
  });

  it("refuses unknown enrollments, disabled enrollments and forged, expired or mismatched SAS tokens", async () => {
    const registrationId = "sas-neg-1";
    const key = deriveDeviceKey(sim.groupKey, registrationId);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, RegExp][] = [
      [
        sasFor(sim.config, registrationId, randomBytes(32).toString("base64")),
        /signed with a key of no enrollment/,
      ],
      [sasFor(sim.config, registrationId, key, { expiresAt: now - 60 }), /expired/],
      [
        sasFor(sim.config, registrationId, key, { resourceId: "other-device" }),
        /other-device.*was expected|expected/,
      ],
      [sasFor(sim.config, registrationId, key, { keyName: null }), /skn/],
      ["SharedAccessSignature sr=x", /Malformed SAS token/],
    ];
    for (const [password, message] of cases) {
      const device = await rawDevice(sim, { registrationId, password });
      const reply = await device.register();
      await device.close();
      expect(reply.status).toBe(401);
      expect(reply.body).toMatchObject({
        errorCode: 401002,
        message: "Unauthorized",
        info: { explanation: expect.stringMatching(message) },
      });
      expect(JSON.stringify(reply.body)).not.toContain(key);
    }
    const noCredentials = await rawDevice(sim, { registrationId });
    expect((await noCredentials.register()).body).toMatchObject({
      errorCode: 401002,
      info: { explanation: expect.stringContaining("neither a SAS token") },
    });
    await noCredentials.close();

    const disabled = await sim.admin.request<{ attestation: { primaryKey: string } }>(
      "PUT",
      "/admin/enrollment-groups/disabled-group?includeSecrets=true",
      { body: { attestation: { type: "symmetricKey" }, enabled: false } },
    );
    const disabledDevice = await rawDevice(sim, {
      registrationId: "disabled-dev",
      password: sasFor(
        sim.config,
        "disabled-dev",
        deriveDeviceKey(disabled.body.attestation.primaryKey, "disabled-dev"),
      ),
    });
    const first = await disabledDevice.register();
    const final = await disabledDevice.poll(first.body.operationId as string);
    await disabledDevice.close();
    expect(first.status).toBe(202);
    expect(final).toMatchObject({
      status: 200,
      body: {
        status: "disabled",
        registrationState: { status: "disabled", errorMessage: expect.stringContaining("disabled") },
      },
    });
    const events = await sim.admin.get<{ kind: string; subject: string }[]>("/admin/events?limit=500");
    expect(events).toContainEqual(
      expect.objectContaining({ kind: "registration.rejected", subject: registrationId }),
    );
  });

  it("checks the ID scope, user name and client id, and grants only the response subscription", async () => {
    const registrationId = "conn-neg-1";
    const wrongScope = await rawDevice(sim, {
      registrationId,
      password: groupSas(sim, registrationId),
      idScope: "0neFFFFFFFF",
    });
    expect((await wrongScope.register()).body).toMatchObject({
      errorCode: 401002,
      info: { explanation: expect.stringContaining("ID scope") },
    });
    // SUBACK 0x80 (refused); mqtt.js reports it as an error.
    await expect(wrongScope.client.subscribeAsync("devices/#", { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    await wrongScope.close();

    await expect(rawDevice(sim, { registrationId, username: "not-a-dps-user-name" })).rejects.toThrow(
      /[Bb]ad username/,
    );
    await expect(rawDevice(sim, { registrationId, clientId: "somebody-else" })).rejects.toThrow(
      /[Ii]dentifier rejected/,
    );
    const unsupported = await rawDevice(sim, {
      registrationId,
      password: groupSas(sim, registrationId),
      apiVersion: "2000-01-01",
    });
    expect((await unsupported.register()).body).toMatchObject({ errorCode: 400001 });
    await unsupported.close();
  });

  it("sends answers only to the device that asked", async () => {
    const a = await rawDevice(sim, { registrationId: "talk-a", password: groupSas(sim, "talk-a") });
    const b = await rawDevice(sim, { registrationId: "talk-b", password: groupSas(sim, "talk-b") });
    const rid = "1";
    const answer = await a.register(undefined, rid);
    // b publishes a fake answer on the response topic: it reaches nobody, and b is told it is no operation.
    const fake = await b.request(
      "$dps/registrations/res/200/?$rid=fake",
      JSON.stringify({ status: "assigned" }),
      "fake",
    );
    const bOwn = await b.register(undefined, rid);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await a.close();
    await b.close();
    expect(answer.status).toBe(202);
    expect(fake.status).toBe(404);
    expect(bOwn.status).toBe(202);
    expect(a.replies.map((reply) => reply.status)).toEqual([202]);
    expect(b.replies.map((reply) => reply.status)).toEqual([404, 202]);
  });

  it("serves MQTT over WebSocket at /$iothub/websocket only", async () => {
    const registrationId = "ws-dev-1";
    const device = await rawDevice(sim, {
      registrationId,
      password: groupSas(sim, registrationId),
      websocket: true,
    });
    const reply = await device.registerUntilDone();
    await device.close();
    expect(reply).toMatchObject({ status: 200, body: { status: "assigned" } });

    const status = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect(
        { host: sim.config.dps.host, port: sim.config.dps.wsPort, ca: sim.rootPem },
        () => {
          socket.write(
            "GET /elsewhere HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
          );
        },
      );
      socket.once("data", (data) => {
        resolve(data.toString("latin1").split("\r\n")[0] ?? "");
        socket.destroy();
      });
      socket.once("error", reject);
    });
    expect(status).toBe("HTTP/1.1 404 Not Found");
  });

  it("serves the linked hub's port, refusing a device that is not in its registry", async () => {
    const hub = sim.config.hubs[0];
    await expect(
      connectAsync(`mqtts://127.0.0.1:${hub?.port}`, {
        clientId: "d1",
        username: `${hub?.hostname}/d1/?api-version=2021-04-12`,
        ca: sim.rootPem,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized/);
  });

  it("reports the substatus of re-registrations as hubs change", async () => {
    await sim.admin.request("PUT", "/admin/hubs/hub-b", {
      body: { hostname: "hub-b.example.net", applyAllocationPolicy: false },
    });
    await sim.admin.request("PUT", "/admin/hubs/hub-c", {
      body: { hostname: "hub-c.example.net", applyAllocationPolicy: false },
    });
    const created = await sim.admin.request<{ attestation: { primaryKey: string } }>(
      "PUT",
      "/admin/enrollment-groups/moving?includeSecrets=true",
      {
        body: { attestation: { type: "symmetricKey" }, allocationPolicy: "static", staticHub: "skittle-hub" },
      },
    );
    const registrationId = "mover-1";
    const password = sasFor(
      sim.config,
      registrationId,
      deriveDeviceKey(created.body.attestation.primaryKey, registrationId),
    );
    const step = async (patch: Record<string, unknown> | undefined) => {
      if (patch !== undefined)
        await sim.admin.request("PATCH", "/admin/enrollment-groups/moving", { body: patch });
      const device = await rawDevice(sim, { registrationId, password });
      const reply = await device.registerUntilDone();
      await device.close();
      return reply.body.registrationState as { substatus: string; assignedHub: string };
    };
    expect(await step(undefined)).toMatchObject({
      substatus: "initialAssignment",
      assignedHub: sim.config.hubs[0]?.hostname,
    });
    expect(await step(undefined)).toMatchObject({ substatus: "initialAssignment" });
    expect(await step({ staticHub: "hub-b" })).toMatchObject({
      substatus: "deviceDataMigrated",
      assignedHub: "hub-b.example.net",
    });
    expect(await step({ staticHub: "skittle-hub" })).toMatchObject({
      substatus: "reprovisionedToInitialAssignment",
    });
    expect(await step({ staticHub: "hub-c", reprovisionPolicy: { migrateDeviceData: false } })).toMatchObject(
      {
        substatus: "deviceDataReset",
        assignedHub: "hub-c.example.net",
      },
    );
    expect(
      await step({ staticHub: "skittle-hub", reprovisionPolicy: { updateHubAssignment: false } }),
    ).toMatchObject({ substatus: "deviceDataReset", assignedHub: "hub-c.example.net" });
    const devices = await sim.admin.get<{ hub: string; deviceId: string }[]>("/admin/devices");
    expect(devices.filter((device) => device.deviceId === registrationId)).toEqual([
      expect.objectContaining({ hub: "hub-c" }),
    ]);
  });
});

describe("registration quota", () => {
  let sim: TestSim;
  beforeAll(async () => {
    sim = await startTestSim({ registrationsPerMinute: 2 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("answers register requests beyond the per-minute quota with 429 and retry-after", async () => {
    const device = await rawDevice(sim, { registrationId: "quota-1", password: groupSas(sim, "quota-1") });
    const first = await device.register();
    const second = await device.register();
    const third = await device.register();
    const poll = await device.poll(first.body.operationId as string);
    await device.close();
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(third).toMatchObject({
      status: 429,
      body: { errorCode: 429001, info: { explanation: expect.stringContaining("2 per minute") } },
    });
    expect(third.retryAfter).toBeGreaterThanOrEqual(1);
    expect(third.retryAfter).toBeLessThanOrEqual(60);
    expect(poll.status).toBe(200);
  });
});

describe("registration quota under forged credentials", () => {
  let sim: TestSim;
  beforeAll(async () => {
    sim = await startTestSim({ registrationsPerMinute: 5 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("counts only authenticated requests, and limits failed authentications without locking others out", async () => {
    const forger = await rawDevice(sim, {
      registrationId: "victim-1",
      password: sasFor(sim.config, "victim-1", randomBytes(32).toString("base64")),
    });
    const forged: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) forged.push((await forger.register()).status);
    const throttledFailure = forger.replies.at(-1);
    await forger.close();
    // Five failures a minute are answered; beyond them the forger's address is told to back off.
    expect(forged).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(throttledFailure?.body).toMatchObject({
      errorCode: 429001,
      info: { explanation: expect.stringContaining("failed authentications") },
    });
    expect(throttledFailure?.retryAfter).toBeGreaterThanOrEqual(1);

    // Same address (loopback), valid credentials: the full quota of five is still available.
    const statuses: number[] = [];
    for (const registrationId of ["legit-1", "legit-2", "legit-3", "legit-4", "legit-5", "legit-6"]) {
      const device = await rawDevice(sim, { registrationId, password: groupSas(sim, registrationId) });
      statuses.push((await device.register()).status);
      await device.close();
    }
    expect(statuses).toEqual([202, 202, 202, 202, 202, 429]);
  });
});

describe("TLS handshake timeout on the device ports", () => {
  let sim: TestSim;
  beforeAll(async () => {
    sim = await startTestSim({ tlsHandshakeTimeoutMs: 250 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("closes silent connections on the DPS and IoT Hub MQTT and WebSocket ports", async () => {
    const hub = sim.config.hubs[0];
    const ports = [sim.config.dps.port, sim.config.dps.wsPort, hub?.port, hub?.wsPort];
    const closes = ports.map((port) => {
      const socket = tcpConnect({ host: "127.0.0.1", port: port ?? 0 });
      socket.on("error", () => {});
      return new Promise<string>((resolve) => socket.once("close", () => resolve(`${port} closed`)));
    });
    expect(await Promise.all(closes)).toEqual(ports.map((port) => `${port} closed`));
  });

  it("refuses a timeout that is not a whole number of milliseconds >= 1", async () => {
    await using dir = await tempDir("skittle-sim-handshake-");
    for (const tlsHandshakeTimeoutMs of [0, -1, 1.5]) {
      await expect(startSimulator({ dataDir: dir.path, tlsHandshakeTimeoutMs })).rejects.toMatchObject({
        code: "SIM_INVALID_OPTION",
        message: expect.stringContaining("tlsHandshakeTimeoutMs"),
      });
    }
  });
});
