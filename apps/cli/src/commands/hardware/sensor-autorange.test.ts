import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";
import type { SensorCalibrateResult } from "./sensor-calibrate.ts";
import type { SensorReadResult } from "./sensor-read.ts";

async function readJson(args: readonly string[]): Promise<SensorReadResult> {
  const run = await runCli(["sensor", "read", "--emulated", "--emulated-color", "yellow", "--json", ...args]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as SensorReadResult;
}

describe("skittle sensor --auto-range", () => {
  it("without it, a brightly lit skittle saturates at 16x and cannot be classified", async () => {
    const result = await readJson(["--emulated-brightness", "4"]);
    expect(result).toMatchObject({ gain: 16, saturated: true, autoRange: false, clear: 65535 });
    expect(result.classification).toMatchObject({ label: "unknown", reason: "saturated" });
  });

  it("with it, the sensor steps down to 4x, reports normalised counts and classifies the skittle", async () => {
    const result = await readJson(["--emulated-brightness", "4", "--auto-range"]);
    expect(result).toMatchObject({ gain: 4, integrationTimeMs: 153.6, saturated: false, autoRange: true });
    expect(result.normalized.clear).toBe(result.clear * 4);
    expect(result.classification.label).toBe("yellow");
    const text = await runCli([
      "sensor",
      "read",
      "--emulated",
      "--emulated-color",
      "yellow",
      "--emulated-brightness",
      "4",
      "--auto-range",
    ]);
    expect(text.stdout).toMatch(/Settings: +153.6 ms integration, 4x gain/);
    expect(text.stdout).toMatch(/Normalised: +C=\d+/);
  });

  it("reads in-range skittles exactly as without it", async () => {
    const plain = await readJson(["--seed", "4"]);
    const ranged = await readJson(["--seed", "4", "--auto-range"]);
    expect({ ...ranged, autoRange: false }).toEqual(plain);
  });

  it("calibrates under bright light, storing the requested settings the samples are normalised to", async () => {
    await using dir = await tempDir();
    const args = (out: string) => [
      "sensor",
      "calibrate",
      "--emulated",
      "--yes",
      "--samples",
      "2",
      "--reads",
      "1",
      "--emulated-brightness",
      "4",
      "--out",
      join(dir.path, out),
    ];
    const saturated = await runCli(args("plain.json"));
    expect(saturated.code).toBe(1);
    expect(saturated.stderr).toContain("SENSOR_SATURATED");

    const run = await runCli([...args("ranged.json"), "--auto-range", "--json"]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as SensorCalibrateResult;
    expect(result).toMatchObject({ integrationTimeMs: 153.6, gain: 16 });
    for (const { correct, total } of Object.values(result.selfCheck)) expect(correct).toBe(total);
    const stored = JSON.parse(await readFile(join(dir.path, "ranged.json"), "utf8")) as { meta: unknown };
    expect(stored.meta).toMatchObject({ integrationTimeMs: 153.6, gain: 16 });
  });
});
