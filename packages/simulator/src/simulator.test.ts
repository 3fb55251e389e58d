import { execFile } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { tempDir } from "@skittlesorter/test-utils";
import { Client, Message } from "azure-iot-device";
import { Mqtt } from "azure-iot-device-mqtt";
import { describe, expect, it } from "vitest";
import { startSimulator } from "./index.ts";
import { provisionDevice } from "./testing/index.ts";

const run = promisify(execFile);
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const source = (path: string) => pathToFileURL(fileURLToPath(new URL(path, import.meta.url))).href;

describe("startSimulator in memory", () => {
  it("has the config, the admin client and async dispose; writes nothing to disk (cwd, HOME, TMPDIR)", {
    timeout: 90_000,
  }, async () => {
    await using dir = await tempDir("skittle-sim-memory-");
    const [cwd, home, tmp] = ["cwd", "home", "tmp"].map((name) => join(dir.path, name)) as [
      string,
      string,
      string,
    ];
    for (const path of [cwd, home, tmp]) await mkdir(path);
    // A separate process, so the directories it could write to are its own and empty.
    const script = `
      const { startSimulator } = await import(${JSON.stringify(source("./index.ts"))});
      const { provisionDevice } = await import(${JSON.stringify(source("./testing/index.ts"))});
      const sim = await startSimulator();
      try {
        const device = await provisionDevice(sim, { csr: true });
        const devices = (await sim.admin.listDevices()).map((item) => item.deviceId === device.deviceId);
        const out = {
          configFile: sim.configFile ?? null,
          keys: Object.keys(sim.config),
          trustedCa: sim.config.trustedCa.startsWith("-----BEGIN CERTIFICATE-----"),
          rootCa: sim.config.adr.rootCa.startsWith("-----BEGIN CERTIFICATE-----"),
          auth: device.auth,
          chain: (device.certificateChainPem ?? "").split("BEGIN CERTIFICATE").length - 1,
          devices,
        };
        process.stdout.write(JSON.stringify(out));
      } finally {
        await sim[Symbol.asyncDispose]();
      }
    `;
    const { stdout } = await run(
      process.execPath,
      ["--conditions=@skittlesorter/source", "--import", tsxLoader, "--input-type=module", "-e", script],
      { cwd, env: { ...process.env, HOME: home, TMPDIR: tmp, TSX_DISABLE_CACHE: "1" }, timeout: 80_000 },
    );
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ configFile: null, trustedCa: true, rootCa: true, auth: "x509", chain: 3 });
    expect(out.keys).not.toContain("trustedCaFile");
    expect(out.keys).not.toContain("dataDir");
    expect(out.devices).toEqual([true]);
    for (const path of [cwd, home, tmp]) expect(await readdir(path), path).toEqual([]);
  });

  it("refuses an empty dataDir with a message that names the in-memory alternative", async () => {
    await expect(startSimulator({ dataDir: "" })).rejects.toMatchObject({
      code: "SIM_INVALID_OPTION",
      message: expect.stringContaining("omit it to run in memory"),
    });
  });
});

describe("@skittlesorter/simulator/testing provisionDevice", () => {
  it.each([
    { attestation: "symmetricKey", csr: false, auth: "sas", method: "sas" },
    { attestation: "symmetricKey", csr: true, auth: "x509", method: "x509CA" },
    { attestation: "x509", csr: false, auth: "x509", method: "x509CA" },
    { attestation: "x509", csr: true, auth: "x509", method: "x509CA" },
  ] as const)(
    "$attestation, csr $csr: the official device client connects with the credentials ($auth)",
    {
      timeout: 60_000,
    },
    async ({ attestation, csr, auth, method }) => {
      await using sim = await startSimulator();
      const device = await provisionDevice(sim, {
        attestation,
        csr,
        registrationId: `testing-${attestation.toLowerCase()}-${csr}`,
      });
      expect(device).toMatchObject({
        auth,
        deviceId: `testing-${attestation.toLowerCase()}-${csr}`,
        caPem: sim.config.trustedCa,
      });
      const client = Client.fromConnectionString(device.connectionString, Mqtt);
      await client.setOptions({
        ca: device.caPem,
        ...(device.auth === "x509" ? { cert: device.certificateChainPem, key: device.privateKeyPem } : {}),
      });
      await client.open();
      try {
        await client.sendEvent(new Message(JSON.stringify({ hello: attestation })));
      } finally {
        await client.close();
      }
      const [message] = await sim.admin.listTelemetry({ device: device.deviceId });
      expect(JSON.parse(message?.systemProperties.connectionAuthMethod ?? "")).toEqual({
        scope: "device",
        type: method === "sas" ? "sas" : "x509Certificate",
        issuer: method === "sas" ? "iothub" : "external",
        acceptingIpFilterRule: null,
      });
      expect((await sim.admin.getDevice(device.deviceId)).deviceId).toBe(device.deviceId);
    },
  );
});

describe("sim.admin: the typed admin client", () => {
  it("reads and changes enrollments, registrations, twins, methods and telemetry", {
    timeout: 60_000,
  }, async () => {
    await using sim = await startSimulator();
    const groups = await sim.admin.listEnrollmentGroups();
    expect(groups.map((group) => group.id)).toEqual(["skittlesorter"]);
    expect(groups[0]?.attestation).toEqual({ type: "symmetricKey" }); // keys stay opt-in
    const withKeys = await sim.admin.getEnrollment("group", "skittlesorter", { includeSecrets: true });
    expect(withKeys.attestation).toMatchObject({ primaryKey: sim.config.enrollmentGroups[0]?.primaryKey });

    const device = await provisionDevice(sim, { registrationId: "admin-typed-01" });
    expect((await sim.admin.listRegistrations()).map((item) => item.registrationId)).toEqual([
      "admin-typed-01",
    ]);
    expect(await sim.admin.getRegistration("admin-typed-01")).toMatchObject({ status: "assigned" });

    const client = Client.fromConnectionString(device.connectionString, Mqtt);
    await client.setOptions({ ca: device.caPem });
    await client.open();
    try {
      client.onDeviceMethod("ping", (request, response) => {
        void response.send(200, { pong: request.payload });
      });
      const answer = await sim.admin.invokeMethod(device.deviceId, {
        methodName: "ping",
        payload: { n: 1 },
        connectTimeoutInSeconds: 10,
      });
      expect(answer).toEqual({ status: 200, payload: { pong: { n: 1 } } });
      const twin = await sim.admin.updateTwin(device.deviceId, {
        desired: { interval: 5 },
        tags: { site: "lab" },
      });
      expect(twin.properties.desired).toMatchObject({ interval: 5 });
      expect((await sim.admin.getTwin(device.deviceId)).tags).toEqual({ site: "lab" });
      await client.sendEvent(new Message(JSON.stringify({ color: "Red" })));
    } finally {
      await client.close();
    }
    expect(await sim.admin.telemetrySummary({ groupBy: "color" })).toMatchObject({
      total: 1,
      groups: [{ value: "Red", count: 1 }],
    });
    await expect(sim.admin.getDevice("no-such-device")).rejects.toMatchObject({
      code: "SIM_ADMIN_REQUEST",
      statusCode: 404,
      errorCode: "DEVICE_NOT_FOUND",
    });
    await sim.admin.deleteRegistration("admin-typed-01");
    expect(await sim.admin.listRegistrations()).toEqual([]);
  });
});
