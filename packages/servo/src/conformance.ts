import assert from "node:assert/strict";
import type { ConformanceCase } from "@skittlesorter/i2c/testing";
import type { ServoDriver } from "./driver.ts";
import { isServoError } from "./errors.ts";

/** What a {@link ServoDriver} under test must provide to {@link servoDriverConformance}. */
export interface ServoDriverHarness {
  driver: ServoDriver;
  /** The pulse width the hardware (emulator) puts out on `channel` now, or undefined when it sends none. */
  observedPulseUs(channel: number): number | undefined;
  /** Called after each case. */
  dispose?(): Promise<void>;
}

function expectCode(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isServoError(error), `expected a ServoError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

/** The behaviour every servo driver (sysfs PWM on its fake tree, PCA9685 on its emulator) must show. */
export function servoDriverConformance(factory: () => Promise<ServoDriverHarness>): ConformanceCase[] {
  const withDriver =
    (body: (harness: ServoDriverHarness) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const harness = await factory();
      try {
        await body(harness);
      } finally {
        await harness.driver.close();
        await harness.dispose?.();
      }
    };
  const near = (harness: ServoDriverHarness, channel: number, expectedUs: number): void => {
    const observed = harness.observedPulseUs(channel);
    assert.ok(observed !== undefined, `channel ${channel} sends no pulses`);
    const tolerance = harness.driver.resolutionUs / 2 + 1e-6;
    assert.ok(
      Math.abs(observed - expectedUs) <= tolerance,
      `channel ${channel}: expected ${expectedUs} µs ± ${tolerance}, observed ${observed}`,
    );
  };

  return [
    {
      name: "runs at about 50 Hz with a fine enough resolution for servos",
      run: withDriver(async ({ driver }) => {
        assert.ok(driver.channelCount >= 1);
        assert.ok(Math.abs(driver.frequencyHz - 50) < 0.5, `frequency ${driver.frequencyHz}`);
        assert.ok(driver.resolutionUs > 0 && driver.resolutionUs < 10);
      }),
    },
    {
      name: "puts out the requested pulse width across the servo range",
      run: withDriver(async (harness) => {
        for (const pulseUs of [500, 700, 1000, 1500, 2000, 2400, 2500]) {
          await harness.driver.setPulseWidth(0, pulseUs);
          near(harness, 0, pulseUs);
        }
      }),
    },
    {
      name: "drives channels independently",
      run: withDriver(async (harness) => {
        const last = harness.driver.channelCount - 1;
        await harness.driver.setPulseWidth(0, 1200);
        if (last > 0) {
          assert.equal(harness.observedPulseUs(last), undefined);
          await harness.driver.setPulseWidth(last, 1800);
          near(harness, last, 1800);
        }
        near(harness, 0, 1200);
      }),
    },
    {
      name: "release stops the pulses and a new pulse width starts them again",
      run: withDriver(async (harness) => {
        await harness.driver.setPulseWidth(0, 1500);
        await harness.driver.release(0);
        assert.equal(harness.observedPulseUs(0), undefined);
        await harness.driver.release(0);
        await harness.driver.setPulseWidth(0, 1000);
        near(harness, 0, 1000);
      }),
    },
    {
      name: "refuses impossible pulses and channels without changing the output",
      run: withDriver(async (harness) => {
        const { driver } = harness;
        await driver.setPulseWidth(0, 1500);
        for (const pulseUs of [0, -5, Number.NaN, 20_000, 25_000]) {
          await assert.rejects(driver.setPulseWidth(0, pulseUs), expectCode("SERVO_PULSE_OUT_OF_RANGE"));
        }
        for (const channel of [-1, 1.5, driver.channelCount]) {
          await assert.rejects(driver.setPulseWidth(channel, 1500), expectCode("SERVO_INVALID_CHANNEL"));
          await assert.rejects(driver.release(channel), expectCode("SERVO_INVALID_CHANNEL"));
        }
        near(harness, 0, 1500);
      }),
    },
    {
      name: "an aborted signal rejects with its reason and changes nothing",
      run: withDriver(async (harness) => {
        await harness.driver.setPulseWidth(0, 1500);
        const reason = new Error("stop");
        const signal = AbortSignal.abort(reason);
        await assert.rejects(harness.driver.setPulseWidth(0, 900, { signal }), (error) => error === reason);
        await assert.rejects(harness.driver.release(0, { signal }), (error) => error === reason);
        near(harness, 0, 1500);
      }),
    },
    {
      name: "close releases the channels it drove, is idempotent, and later calls fail with SERVO_CLOSED",
      run: withDriver(async (harness) => {
        await harness.driver.setPulseWidth(0, 1500);
        await harness.driver.close();
        await harness.driver.close();
        assert.equal(harness.observedPulseUs(0), undefined);
        await assert.rejects(harness.driver.setPulseWidth(0, 1500), expectCode("SERVO_CLOSED"));
        await assert.rejects(harness.driver.release(0), expectCode("SERVO_CLOSED"));
      }),
    },
  ];
}
