import assert from "node:assert/strict";
import { isSkittleError } from "@skittlesorter/core";
import type { ConformanceCase } from "@skittlesorter/i2c/testing";
import type { ColorSensor } from "./driver.ts";
import type { Rgbc } from "./settings.ts";

/** What a {@link ColorSensor} under test must provide to {@link colorSensorConformance}. */
export interface ColorSensorHarness {
  sensor: ColorSensor;
  /** Full-scale count at the sensor's settings. */
  fullScale: number;
  /** From now on, the sensor faces a target that reads as `counts`. */
  present(counts: Rgbc): void;
  /** Called after each case. */
  dispose?(): Promise<void>;
}

/** The behaviour every colour sensor (the TCS34725 driver on its emulator, a mock sensor) must show. */
export function colorSensorConformance(factory: () => Promise<ColorSensorHarness>): ConformanceCase[] {
  const withSensor =
    (body: (harness: ColorSensorHarness) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const harness = await factory();
      try {
        await body(harness);
      } finally {
        await harness.sensor.close();
        await harness.dispose?.();
      }
    };
  const scaled = (fullScale: number, fractions: [number, number, number, number]): Rgbc => ({
    clear: Math.round(fullScale * fractions[0]),
    red: Math.round(fullScale * fractions[1]),
    green: Math.round(fullScale * fractions[2]),
    blue: Math.round(fullScale * fractions[3]),
  });

  return [
    {
      name: "reads back the presented counts with their settings",
      run: withSensor(async ({ sensor, fullScale, present }) => {
        const target = scaled(fullScale, [0.5, 0.25, 0.15, 0.1]);
        present(target);
        const reading = await sensor.read();
        assert.deepEqual(
          { clear: reading.clear, red: reading.red, green: reading.green, blue: reading.blue },
          target,
        );
        assert.equal(reading.saturated, false);
        assert.ok(reading.integrationTimeMs > 0);
        assert.ok([1, 4, 16, 60].includes(reading.gain));
      }),
    },
    {
      name: "a reading shows what is presented at the time of the read, not before",
      run: withSensor(async ({ sensor, fullScale, present }) => {
        present(scaled(fullScale, [0.3, 0.1, 0.1, 0.1]));
        await sensor.read();
        const next = scaled(fullScale, [0.6, 0.3, 0.2, 0.1]);
        present(next);
        const reading = await sensor.read();
        assert.equal(reading.clear, next.clear);
        assert.equal(reading.red, next.red);
      }),
    },
    {
      name: "flags a clear channel at full scale as saturated",
      run: withSensor(async ({ sensor, fullScale, present }) => {
        present(scaled(fullScale, [1, 0.5, 0.4, 0.3]));
        const reading = await sensor.read();
        assert.equal(reading.clear, fullScale);
        assert.equal(reading.saturated, true);
      }),
    },
    {
      name: "rejects with the signal's reason when aborted",
      run: withSensor(async ({ sensor }) => {
        const reason = new Error("stop");
        await assert.rejects(sensor.read({ signal: AbortSignal.abort(reason) }), (error) => error === reason);
      }),
    },
    {
      name: "close is idempotent and later reads reject with a *_CLOSED error",
      run: withSensor(async ({ sensor }) => {
        await sensor.close();
        await sensor.close();
        await assert.rejects(sensor.read(), (error: unknown) => {
          assert.ok(isSkittleError(error));
          assert.match(error.code, /_CLOSED$/);
          return true;
        });
      }),
    },
  ];
}
