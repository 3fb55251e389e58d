import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";
import type { ServoSetResult } from "./servo.ts";
import type { OscillatorCalibrationResult } from "./servo-calibrate.ts";

async function calibrate(args: readonly string[], cwd?: string): Promise<OscillatorCalibrationResult> {
  const run = await runCli(["servo", "calibrate-oscillator", ...args, "--json"], cwd);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as OscillatorCalibrationResult;
}

describe("skittle servo calibrate-oscillator", () => {
  it("turns a period measured with a scope into the oscillator at prescale 121 and names the key to set", async () => {
    // 25 MHz would give 19 988.48 µs; this chip runs faster.
    const result = await calibrate(["--measured-period-us", "18990"]);
    expect(result).toMatchObject({
      method: "measured-period",
      prescale: 121,
      configKey: "Hardware.Pca9685OscillatorHz",
      value: 26_314_481,
      writtenTo: null,
    });
    expect(result.offsetPercent).toBeCloseTo(5.26, 2);
    const text = await runCli(["servo", "calibrate-oscillator", "--measured-frequency-hz", "52.659"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Set "Pca9685OscillatorHz": 26314');
    expect(text.stdout).toContain('"Hardware" section');
  });

  it("takes the prescale in effect during the measurement", async () => {
    const result = await calibrate(["--measured-period-us", "20000", "--prescale", "128"]);
    expect(result.value).toBe(Math.round((4096 * 129 * 1e6) / 20000));
  });

  it("measures an emulated chip running off-nominal by timing a looped-back channel", async () => {
    const result = await calibrate(["--emulated", "--emulated-oscillator-hz", "23750000", "--periods", "20"]);
    expect(result).toMatchObject({ method: "loopback", emulated: true, periods: 20, prescale: 121 });
    expect(Math.abs(result.value - 23_750_000)).toBeLessThanOrEqual(50); // 2 ppm
  });

  it("writes the key into the sorter's configuration, keeping every other key, the layout and the file mode", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "appsettings.json");
    const original = {
      _comment: "mine",
      hardware: { ServoDriver: "pca9685", pca9685oscillatorhz: 25000000, PickServo: { Channel: 6 } },
      IoTHub: { DpsProvisioning: { IdScope: "0ne00000A0A", EnrollmentGroupKeyBase64: "c2VjcmV0" } },
    };
    await writeFile(file, `${JSON.stringify(original, null, 4)}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    const result = await calibrate(
      ["--measured-period-us", "18990", "--write-config", "appsettings.json"],
      dir.path,
    );
    expect(result.writtenTo).toBe(file);
    const text = await readFile(file, "utf8");
    expect(JSON.parse(text)).toEqual({
      ...original,
      hardware: { ...original.hardware, pca9685oscillatorhz: 26_314_481 },
    });
    expect(text).toMatch(/^\{\n {4}"_comment"/);
    expect(text.endsWith("}\n")).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    // A configuration without a Hardware section gets one.
    await writeFile(file, '{"IoTHub":{"SendTelemetry":false}}');
    await calibrate(["--measured-period-us", "20000", "--write-config", file]);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({
      IoTHub: { SendTelemetry: false },
      Hardware: { Pca9685OscillatorHz: 24_985_600 },
    });
  });

  it("refuses bad input with a clear message and leaves the file alone", async () => {
    await using dir = await tempDir();
    const none = await runCli(["servo", "calibrate-oscillator"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("pass exactly one of --measured-period-us");

    const implausible = await runCli(["servo", "calibrate-oscillator", "--measured-period-us", "2000"]);
    expect(implausible.code).toBe(1);
    expect(implausible.stderr).toMatch(/SERVO_CALIBRATION_FAILED.*outside the 20–30 MHz/);

    const broken = join(dir.path, "broken.json");
    await writeFile(broken, "{ not json");
    const run = await runCli([
      "servo",
      "calibrate-oscillator",
      "--measured-period-us",
      "19000",
      "--write-config",
      broken,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/CONFIG_WRITE_FAILED.*is not valid JSON.*nothing was written/);
    expect(await readFile(broken, "utf8")).toBe("{ not json");
    const missing = await runCli([
      "servo",
      "calibrate-oscillator",
      "--measured-period-us",
      "19000",
      "--write-config",
      join(dir.path, "nope.json"),
    ]);
    expect(missing.stderr).toMatch(/nope\.json does not exist/);
  });

  it("drives the PCA9685 with --oscillator-hz: assuming 26 MHz on a 25 MHz chip shows in the pulse", async () => {
    const run = await runCli([
      "servo",
      "set",
      "--driver",
      "pca9685",
      "--channel",
      "0",
      "--pulse-us",
      "1500",
      "--oscillator-hz",
      "26000000",
      "--emulated",
      "--json",
    ]);
    expect((JSON.parse(run.stdout) as ServoSetResult).readBackPulseUs).toBeCloseTo(1559.56, 1);
  });
});

describe("skittle servo on emulated Raspberry Pi PWM layouts", () => {
  async function target(args: readonly string[]): Promise<string> {
    const run = await runCli([
      "servo",
      "set",
      "--driver",
      "sysfs",
      "--channel",
      "1",
      "--angle",
      "90",
      "--emulated",
      "--json",
      ...args,
    ]);
    expect(run.stderr).toBe("");
    const result = JSON.parse(run.stdout) as ServoSetResult;
    expect(result.readBackPulseUs).toBe(1550);
    return result.target;
  }

  it("finds the PWM controller by its device link whatever number the kernel gave it", async () => {
    expect(await target([])).toBe("sysfs pwmchip0 (emulated)");
    expect(await target(["--emulated-layout", "pi5-kernel-6.6"])).toBe(
      "sysfs pwmchip2 (emulated pi5-kernel-6.6)",
    );
    expect(await target(["--emulated-layout", "pi5-kernel-6.12"])).toBe(
      "sysfs pwmchip0 (emulated pi5-kernel-6.12)",
    );
    expect(await target(["--emulated-layout", "pi5-kernel-6.6", "--chip", "1f0009c000.pwm"])).toBe(
      "sysfs pwmchip6 (emulated pi5-kernel-6.6)",
    );
  });
});
