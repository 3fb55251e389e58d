import { describe, expect, it } from "vitest";
import { runEmulatedSort } from "../emulated-sort.ts";
import { offline, problemsOf } from "./config.test-support.ts";
import { resolveConfig } from "./index.ts";

describe("hardware configuration: PWM chip, PCA9685 oscillator, sensor auto-ranging", () => {
  it("defaults to finding the PWM chip by device, a 25 MHz oscillator and no auto-ranging", () => {
    const config = resolveConfig(offline);
    expect(config.hardware.pwmChip).toBeUndefined();
    expect(config.hardware.pca9685OscillatorHz).toBe(25_000_000);
    expect(config.sensor.autoRange).toBe(false);
  });

  it("takes a chip number, a path or a controller, from the file or the environment", () => {
    expect(resolveConfig({ ...offline, Hardware: { PwmChip: 2 } }).hardware.pwmChip).toBe(2);
    const env = (value: string) =>
      resolveConfig(offline, { env: { SKITTLE__Hardware__PwmChip: value } }).hardware.pwmChip;
    expect(env("2")).toBe(2);
    expect(env("1f00098000.pwm")).toBe("1f00098000.pwm");
    expect(env("/sys/class/pwm/pwmchip0")).toBe("/sys/class/pwm/pwmchip0");
    const config = resolveConfig(offline, {
      env: {
        SKITTLE__Hardware__Pca9685OscillatorHz: "26312345.5",
        SKITTLE__Sensor__AutoRange: "true",
      },
    });
    expect(config.hardware.pca9685OscillatorHz).toBe(26_312_345.5);
    expect(config.sensor.autoRange).toBe(true);
  });

  it("names the key and the fix for an impossible oscillator or chip", () => {
    const problems = problemsOf(() =>
      resolveConfig({ ...offline, Hardware: { Pca9685OscillatorHz: 50_000_000, PwmChip: -1 } }),
    );
    expect(problems.map((problem) => problem.path).sort()).toEqual([
      "Hardware.Pca9685OscillatorHz",
      "Hardware.PwmChip",
    ]);
    expect(problems.find((p) => p.path === "Hardware.Pca9685OscillatorHz")?.fix).toMatch(
      /skittle servo calibrate-oscillator --write-config/,
    );
    expect(problemsOf(() => resolveConfig({ ...offline, Hardware: { PwmChip: true } }))[0]?.message).toMatch(
      /chip number .* controller such as "1f00098000.pwm"/,
    );
  });

  it("sorts correctly on an emulated rig whose PCA9685 runs 6 % fast once the calibrated oscillator is configured", async () => {
    const rig = (hardware: Record<string, unknown>) =>
      resolveConfig({ ...offline, EmulatedRig: { Enabled: true }, Hardware: hardware });
    const calibrated = await runEmulatedSort({
      skittles: 40,
      seed: 5,
      config: rig({ Pca9685OscillatorHz: 26_500_000 }),
    });
    expect(calibrated).toMatchObject({ sorted: 40, accuracy: 1 });
  });

  it("sorts the emulated rig just as well with auto-ranging on (its readings stay in range)", async () => {
    const config = resolveConfig({ ...offline, EmulatedRig: { Enabled: true }, Sensor: { AutoRange: true } });
    const ranged = await runEmulatedSort({ skittles: 40, seed: 5, config });
    const plain = await runEmulatedSort({ skittles: 40, seed: 5 });
    expect(ranged).toMatchObject({ sorted: 40, accuracy: 1 });
    expect(ranged.bins).toEqual(plain.bins);
  });
});
