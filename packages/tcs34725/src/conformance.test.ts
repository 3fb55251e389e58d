import { FakeI2cBus } from "@skittlesorter/i2c/testing";
import { describe, it } from "vitest";
import { openTcs34725 } from "./index.ts";
import { colorSensorConformance, Tcs34725Emulator } from "./testing.ts";

describe("TCS34725 driver on its emulator: colour sensor conformance", () => {
  for (const check of colorSensorConformance(async () => {
    const chip = new Tcs34725Emulator();
    const bus = new FakeI2cBus().attach(0x29, chip);
    // Real time, short integration: 10 cycles = 24 ms, full scale 10240.
    const sensor = await openTcs34725(bus, { integrationTimeMs: 24, gain: 16 });
    return { sensor, fullScale: 10240, present: (counts) => chip.present(counts) };
  })) {
    it(check.name, () => check.run());
  }
});
