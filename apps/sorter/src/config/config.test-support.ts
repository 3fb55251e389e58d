import { expect } from "vitest";
import { ConfigError, type ConfigProblem } from "../errors.ts";

export const groupKey = Buffer.alloc(64, 7).toString("base64");

/** The original's symmetric-key configuration, with the `{RegistrationId}` token in DeviceId. */
export const sas = {
  IoTHub: {
    DeviceId: "{RegistrationId}",
    DpsProvisioning: {
      IdScope: "0ne00000A0A",
      RegistrationId: "Sorter-01",
      EnrollmentGroupKeyBase64: groupKey,
    },
  },
};

/** A telemetry-off configuration: nothing about DPS is required. */
export const offline = { IoTHub: { SendTelemetry: false } };

/** The problems of the ConfigError that `run` throws. */
export function problemsOf(run: () => unknown): ConfigProblem[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error("expected a ConfigError");
}
