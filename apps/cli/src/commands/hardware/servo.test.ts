import { describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";
import type { ServoSetResult, ServoSweepResult } from "./servo.ts";

/** One PCA9685 tick at 50 Hz (prescale 121, 25 MHz): 122 / 25 MHz ≈ 4.88 µs. */
const PCA9685_TICK_US = 122 / 25;

async function setJson(args: readonly string[]): Promise<ServoSetResult> {
  const run = await runCli(["servo", "set", ...args, "--emulated", "--json"]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as ServoSetResult;
}

describe("skittle servo set", () => {
  it("moves a servo on emulated sysfs PWM and reads the pulse width back", async () => {
    const result = await setJson(["--driver", "sysfs", "--channel", "1", "--angle", "90"]);
    expect(result).toEqual({
      driver: "sysfs",
      target: "sysfs pwmchip0 (emulated)",
      emulated: true,
      channel: 1,
      angleDeg: 90,
      pulseUs: 1550,
      readBackPulseUs: 1550,
      calibration: { minPulseUs: 700, maxPulseUs: 2400, rangeDeg: 180 },
      released: false,
    });
  });

  it("moves a servo on an emulated PCA9685 and reads back the chip's pulse (to one tick)", async () => {
    const result = await setJson([
      "--driver",
      "pca9685",
      "--channel",
      "7",
      "--angle",
      "0",
      "--address",
      "0x41",
    ]);
    expect(result.target).toBe("PCA9685 at 0x41 on I2C bus 1 (emulated)");
    expect(result.pulseUs).toBe(700);
    expect(Math.abs((result.readBackPulseUs ?? 0) - 700)).toBeLessThanOrEqual(PCA9685_TICK_US);
  });

  it("honours the servo calibration options", async () => {
    const result = await setJson([
      "--driver",
      "sysfs",
      "--channel",
      "0",
      "--angle",
      "135",
      "--min-us",
      "500",
      "--max-us",
      "2500",
      "--range",
      "270",
    ]);
    expect(result.pulseUs).toBe(1500);
    expect(result.readBackPulseUs).toBe(1500);
    expect(result.calibration).toEqual({ minPulseUs: 500, maxPulseUs: 2500, rangeDeg: 270 });
  });

  it("sends a raw pulse width with --pulse-us and reports the angle it means", async () => {
    const result = await setJson([
      "--driver",
      "sysfs",
      "--chip",
      "2",
      "--channel",
      "0",
      "--pulse-us",
      "2400",
    ]);
    expect(result.target).toBe("sysfs pwmchip2 (emulated)");
    expect(result).toMatchObject({ pulseUs: 2400, readBackPulseUs: 2400, angleDeg: 180 });
  });

  it("stops the pulses with --release", async () => {
    const result = await setJson(["--driver", "pca9685", "--channel", "3", "--angle", "45", "--release"]);
    expect(result.pulseUs).toBe(1125);
    expect(result.released).toBe(true);
    expect(result.readBackPulseUs).toBeNull();
  });

  it("prints a readable line", async () => {
    const run = await runCli([
      "servo",
      "set",
      "--driver",
      "sysfs",
      "--channel",
      "0",
      "--angle",
      "90",
      "--emulated",
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("sysfs pwmchip0 (emulated), channel 0:");
    expect(run.stdout).toMatch(/90 deg +1550 us +\(read back 1550 us\)/);
    expect(run.stdout).toContain("Holding: the pulses stay on after exit");
  });

  it("fails with the servo package's error and exit 1 when the hardware is missing", async () => {
    const sysfs = await runCli(["servo", "set", "--driver", "sysfs", "--channel", "0", "--angle", "90"]);
    expect(sysfs.code).toBe(1);
    expect(sysfs.stderr).toMatch(/^error \[SERVO_PWM_UNAVAILABLE\]: .*pwmchip0/);
    expect(sysfs.stderr).toContain("dtoverlay=pwm-2chan");

    const pca = await runCli(["servo", "set", "--driver", "pca9685", "--channel", "0", "--angle", "90"]);
    expect(pca.code).toBe(1);
    expect(pca.stderr).toMatch(/^error \[I2C_(BUS_NOT_FOUND|MODULE_UNAVAILABLE)\]: /);
  });

  it("reports a channel the driver does not have", async () => {
    const run = await runCli([
      "servo",
      "set",
      "--driver",
      "sysfs",
      "--channel",
      "2",
      "--angle",
      "90",
      "--emulated",
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error [SERVO_INVALID_CHANNEL]");
    expect(run.stderr).toContain("channels 0 to 1");
  });

  it.each([
    [["--channel", "0", "--angle", "90"], "--driver"],
    [["--driver", "gpio", "--channel", "0", "--angle", "90"], "--driver"],
    [["--driver", "sysfs", "--angle", "90"], "--channel"],
    [["--driver", "sysfs", "--channel", "0"], "exactly one of --angle"],
    [
      ["--driver", "sysfs", "--channel", "0", "--angle", "90", "--pulse-us", "1500"],
      "exactly one of --angle",
    ],
    [["--driver", "sysfs", "--channel", "0", "--angle", "200"], "--angle must be a number from 0 to 180"],
    [["--driver", "sysfs", "--channel", "0", "--angle", "-5"], "--angle"],
    [["--driver", "sysfs", "--channel", "x", "--angle", "5"], "--channel"],
    [
      ["--driver", "sysfs", "--channel", "0", "--angle", "5", "--min-us", "1500", "--max-us", "1500"],
      "must differ",
    ],
    [["--driver", "pca9685", "--channel", "0", "--angle", "5", "--address", "0x80"], "--address"],
  ])("exits 2 on a usage error: %j", async (args, message) => {
    const run = await runCli(["servo", "set", ...args, "--emulated"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe("skittle servo sweep", () => {
  it("sweeps an emulated PCA9685 servo and prints each pulse width", async () => {
    const run = await runCli([
      "servo",
      "sweep",
      "--driver",
      "pca9685",
      "--channel",
      "6",
      "--from",
      "0",
      "--to",
      "180",
      "--step",
      "45",
      "--dwell-ms",
      "0",
      "--emulated",
      "--json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as ServoSweepResult;
    expect(result).toMatchObject({ driver: "pca9685", channel: 6, interrupted: false, released: false });
    expect(result.steps.map((step) => step.angleDeg)).toEqual([0, 45, 90, 135, 180]);
    expect(result.steps.map((step) => step.pulseUs)).toEqual([700, 1125, 1550, 1975, 2400]);
    for (const step of result.steps) {
      expect(Math.abs((step.readBackPulseUs ?? 0) - step.pulseUs)).toBeLessThanOrEqual(PCA9685_TICK_US);
    }
  });

  it("sweeps backwards on sysfs, ending exactly at --to, with a line per step", async () => {
    const run = await runCli([
      "servo",
      "sweep",
      "--driver",
      "sysfs",
      "--channel",
      "0",
      "--from",
      "90",
      "--to",
      "0",
      "--step",
      "40",
      "--dwell-ms",
      "0",
      "--emulated",
    ]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toBe("sysfs pwmchip0 (emulated), channel 0: 4 steps");
    expect(lines.slice(1, 5).map((line) => line.trim().split(/ +/).slice(0, 4))).toEqual([
      ["90", "deg", "1550", "us"],
      ["50", "deg", "1172.2", "us"],
      ["10", "deg", "794.4", "us"],
      ["0", "deg", "700", "us"],
    ]);
    expect(lines[4]).toContain("(read back 700 us)");
    expect(lines[5]).toBe("Holding at 0 deg (pass --release to stop the pulses).");
  });

  it("stops on Ctrl-C (SIGINT), keeps what it did and exits 0", async () => {
    const before = process.listeners("SIGINT");
    const running = runCli([
      "servo",
      "sweep",
      "--driver",
      "sysfs",
      "--channel",
      "0",
      "--dwell-ms",
      "5000",
      "--emulated",
      "--json",
    ]);
    let ours: ((signal: NodeJS.Signals) => void) | undefined;
    while (ours === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      ours = process.listeners("SIGINT").find((listener) => !before.includes(listener));
    }
    await new Promise((resolve) => setTimeout(resolve, 900));
    ours("SIGINT");
    const run = await running;
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as ServoSweepResult;
    expect(result.interrupted).toBe(true);
    // Cut short during the first move (0.6 s, unknown start) or the 5 s dwell after it.
    expect(result.steps.length).toBeLessThanOrEqual(1);
    for (const step of result.steps)
      expect(step).toEqual({ angleDeg: 0, pulseUs: 700, readBackPulseUs: 700 });
    expect(process.listeners("SIGINT")).toEqual(before);
  });

  it.each([
    [["--step", "0"], "--step"],
    [["--to", "181"], "--to"],
    [["--from", "x"], "--from"],
    [["--dwell-ms", "-1"], "--dwell-ms"],
  ])("exits 2 on a usage error: %j", async (args, message) => {
    const run = await runCli([
      "servo",
      "sweep",
      "--driver",
      "sysfs",
      "--channel",
      "0",
      "--emulated",
      ...args,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe("skittle servo help", () => {
  it.each(["set", "sweep"])("prints help for servo %s", async (name) => {
    const run = await runCli(["servo", name, "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Usage: skittle servo ${name}`);
    expect(run.stdout).toContain("--driver <driver>");
    expect(run.stdout).toContain("--emulated");
    expect(run.stdout).toContain("--json");
  });
});
