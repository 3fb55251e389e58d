import { describe, expect, it } from "vitest";
import { sas } from "./config.test-support.ts";
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
