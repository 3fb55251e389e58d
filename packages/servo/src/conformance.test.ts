import { FakeI2cBus } from "@skittlesorter/i2c/testing";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, it } from "vitest";
import { openPca9685, openSysfsPwm } from "./index.ts";
import { createFakeSysfsPwm, Pca9685Emulator, servoDriverConformance } from "./testing.ts";

describe("sysfs PWM driver on a fake sysfs tree: servo driver conformance", () => {
  for (const check of servoDriverConformance(async () => {
    const dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path });
    const driver = await openSysfsPwm({ root: dir.path, fs: fake.fs });
    return {
      driver,
      observedPulseUs: (channel) => fake.pulseUs(0, channel),
      dispose: () => dir[Symbol.asyncDispose](),
    };
  })) {
    it(check.name, () => check.run());
  }
});

describe("PCA9685 driver on its emulator: servo driver conformance", () => {
  for (const check of servoDriverConformance(async () => {
    const chip = new Pca9685Emulator();
    const bus = new FakeI2cBus().attach(0x40, chip);
    const driver = await openPca9685(bus);
    return { driver, observedPulseUs: (channel) => chip.pulseWidthUs(channel) };
  })) {
    it(check.name, () => check.run());
  }
});
