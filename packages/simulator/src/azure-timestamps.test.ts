// Issue 17 item 4: every time stamp the simulator's Azure service REST APIs answer has seven fractional digits, as
// Azure writes them (.NET ticks). IoT Hub's "never" (`0001-01-01T00:00:00Z`) is sent as Azure sends it, and
// certificate validity dates are the certificate's own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceClient as dpsServiceClient } from "./dps/service-api/service-api.test-support.ts";
import { deviceSas, rawHub } from "./hub/hub-features.test-support.ts";
import { hubServiceClient } from "./hub/service-api/service-api.test-support.ts";
import { provisionDevice, startTestSim, type TestSim } from "./sim.test-support.ts";

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;
const AZURE_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/;
const NEVER = "0001-01-01T00:00:00Z";
const CERTIFICATE_DATES = new Set(["notBeforeUtc", "notAfterUtc"]);

/** Every time stamp in a JSON answer, with its path (JSON strings inside strings, like method errors, included). */
function timestampsIn(value: unknown, path: string, found: [string, string][] = []): [string, string][] {
  if (typeof value === "string") {
    if (TIMESTAMP.test(value)) found.push([path, value]);
    else if (value.startsWith("{")) {
      try {
        timestampsIn(JSON.parse(value), `${path}(json)`, found);
      } catch {
        // not JSON
      }
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      timestampsIn(item, `${path}[${index}]`, found);
    });
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (!CERTIFICATE_DATES.has(key)) timestampsIn(item, `${path}.${key}`, found);
    }
  }
  return found;
}

describe("time stamps of the Azure service REST answers", () => {
  let sim: TestSim;

  beforeAll(async () => {
    sim = await startTestSim();
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("carry seven fractional digits: hub devices, twins, modules, method errors, DPS enrollments, registrations", {
    timeout: 60_000,
  }, async () => {
    const hub = hubServiceClient(sim.config);
    const dps = dpsServiceClient(sim.config);
    const device = await provisionDevice(sim, "timestamps-01");
    // A connection and a disconnection give the device real connection times.
    await (await rawHub(sim, { clientId: device.deviceId, password: deviceSas(device) })).endAsync();
    await hub("PATCH", `/twins/${device.deviceId}`, { body: { properties: { desired: { a: 1 } } } });
    await hub("PUT", `/devices/${device.deviceId}`, {
      body: { deviceId: device.deviceId, status: "disabled" },
      headers: { "if-match": "*" },
    });
    await hub("PUT", "/devices/timestamps-created", { body: { deviceId: "timestamps-created" } });
    await hub("PUT", `/devices/${device.deviceId}/modules/m1`, { body: { moduleId: "m1" } });
    await dps("PUT", "/enrollments/timestamps-individual", {
      body: { registrationId: "timestamps-individual", attestation: { type: "symmetricKey" } },
    });

    const answers = {
      device: await hub("GET", `/devices/${device.deviceId}`),
      created: await hub("GET", "/devices/timestamps-created"),
      devices: await hub("GET", "/devices"),
      twin: await hub("GET", `/twins/${device.deviceId}`),
      module: await hub("GET", `/devices/${device.deviceId}/modules/m1`),
      moduleTwin: await hub("GET", `/twins/${device.deviceId}/modules/m1`),
      methodError: await hub("POST", "/twins/timestamps-created/methods", {
        body: { methodName: "ping", responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0 },
      }),
      group: await dps("GET", `/enrollmentGroups/${sim.config.enrollmentGroups[0]?.id}`),
      enrollment: await dps("GET", "/enrollments/timestamps-individual"),
      registration: await dps("GET", `/registrations/${device.deviceId}`),
      dpsError: await dps("GET", "/enrollments/no-such-enrollment"),
    };
    expect(answers.methodError.status).toBe(404);
    expect(answers.dpsError.status).toBe(404);
    const stamps = Object.entries(answers).flatMap(([name, answer]) => timestampsIn(answer.body, name));
    // Each answer has time stamps to check.
    for (const name of Object.keys(answers)) {
      const answered = stamps.some(([path]) => path.split(/[.[(]/)[0] === name);
      expect(answered, name).toBe(true);
    }
    const misshapen = stamps.filter(([, value]) => value !== NEVER && !AZURE_TIMESTAMP.test(value));
    expect(misshapen).toEqual([]);
    for (const key of ["statusUpdatedTime", "connectionStateUpdatedTime", "lastActivityTime"]) {
      expect(stamps.map(([path]) => path)).toContain(`device.${key}`);
    }
    expect(stamps.map(([path]) => path)).toEqual(
      expect.arrayContaining([
        "twin.properties.desired.$metadata.$lastUpdated",
        "methodError.Message(json).timestampUtc",
        "enrollment.createdDateTimeUtc",
        "registration.lastUpdatedDateTimeUtc",
        "dpsError.timestampUtc",
      ]),
    );
  });
});
