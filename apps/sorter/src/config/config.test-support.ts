import { expect } from "vitest";
import { ConfigError, type ConfigProblem } from "../errors.ts";

export const groupKey = Buffer.alloc(64, 7).toString("base64");

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
