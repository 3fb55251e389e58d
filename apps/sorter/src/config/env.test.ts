import { describe, expect, it } from "vitest";
import { problemsOf, sas } from "./config.test-support.ts";
import { resolveConfig } from "./index.ts";

describe("environment overrides", () => {
  it("takes environment overrides (case-insensitive keys, typed values) and host:port", () => {
    const config = resolveConfig(sas, {
      env: {
        SKITTLE__IoTHub__DpsProvisioning__ProvisioningHost: "localhost:18883",
        SKITTLE__iothub__dpsprovisioning__idscope: "0ne0000FFFF",
        SKITTLE__ServoPositions__PickAngle: "150",
        SKITTLE__MockMode__EnableMockColorSensor: "true",
        SKITTLE__MockMode__EnableMockServos: "true",
        SKITTLE__MockMode__MockColorSequence: '["Red","None"]',
        OTHER: "ignored",
      },
    });
    expect(config.dps?.host).toBe("localhost");
    expect(config.dps?.port).toBe(18883);
    expect(config.dps?.idScope).toBe("0ne0000FFFF");
    expect(config.positions.pick).toBe(150);
    expect(config.emulated).toBe(true);
    expect(config.rig.sequence).toEqual(["Red", "None"]);
  });
});

describe("IoTHub.Client", () => {
  it("defaults to the official SDK and takes hub-mqtt from the file or the environment (any case)", () => {
    expect(resolveConfig(sas).telemetry.client).toBe("azure-iot-device");
    const fromFile = resolveConfig({ ...sas, IoTHub: { ...sas.IoTHub, client: "Hub-MQTT" } });
    expect(fromFile.telemetry.client).toBe("hub-mqtt");
    const fromEnv = resolveConfig(sas, { env: { SKITTLE__IoTHub__Client: "hub-mqtt" } });
    expect(fromEnv.telemetry.client).toBe("hub-mqtt");
  });

  it("refuses another client, naming the key and the allowed values", () => {
    const problems = problemsOf(() => resolveConfig(sas, { env: { SKITTLE__IoTHub__Client: "paho" } }));
    expect(problems).toEqual([
      expect.objectContaining({
        path: "IoTHub.Client",
        message: expect.stringMatching(/"azure-iot-device".*"hub-mqtt"/),
      }),
    ]);
  });
});
