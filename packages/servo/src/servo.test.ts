import { afterEach, describe, expect, it, vi } from "vitest";
import {
  angleToPulseUs,
  createServo,
  pulseUsToAngle,
  type ServoDriver,
  ServoMotion,
  servoCalibration,
  travelTimeMs,
} from "./index.ts";

function recordingDriver(): ServoDriver & { calls: Array<[string, number, number?]> } {
  const calls: Array<[string, number, number?]> = [];
  return {
    calls,
    channelCount: 16,
    frequencyHz: 50,
    resolutionUs: 1,
    setPulseWidth: async (channel, pulseUs) => {
      calls.push(["set", channel, pulseUs]);
    },
    release: async (channel) => {
      calls.push(["release", channel]);
    },
    close: async () => undefined,
  };
}

describe("angle ⇄ pulse", () => {
  const calibration = servoCalibration({ minPulseUs: 700, maxPulseUs: 2400, rangeDeg: 180 });

  it("maps linearly between the per-servo limits", () => {
    expect(angleToPulseUs(0, calibration)).toBe(700);
    expect(angleToPulseUs(90, calibration)).toBe(1550);
    expect(angleToPulseUs(180, calibration)).toBe(2400);
    expect(pulseUsToAngle(1550, calibration)).toBe(90);
    expect(pulseUsToAngle(angleToPulseUs(160, calibration), calibration)).toBeCloseTo(160, 10);
  });

  it("supports reversed servos and other ranges", () => {
    const reversed = servoCalibration({ minPulseUs: 2500, maxPulseUs: 500, rangeDeg: 270 });
    expect(angleToPulseUs(0, reversed)).toBe(2500);
    expect(angleToPulseUs(270, reversed)).toBe(500);
    expect(angleToPulseUs(135, reversed)).toBe(1500);
  });

  it("refuses angles outside the range and nonsense calibrations", () => {
    expect(() => angleToPulseUs(181, calibration)).toThrow(
      expect.objectContaining({ code: "SERVO_ANGLE_OUT_OF_RANGE" }),
    );
    expect(() => angleToPulseUs(-1, calibration)).toThrow(/outside this servo's range of 0 to 180°/);
    expect(() => servoCalibration({ minPulseUs: 1000, maxPulseUs: 1000 })).toThrow(
      expect.objectContaining({ code: "SERVO_INVALID_OPTION" }),
    );
    expect(() => servoCalibration({ secondsPer60Deg: -1 })).toThrow(/secondsPer60Deg/);
  });
});

describe("travel time", () => {
  it("follows the s/60° speed, adds settle time, and assumes a full sweep from an unknown position", () => {
    const calibration = servoCalibration({ secondsPer60Deg: 0.15, settleMs: 20, rangeDeg: 180 });
    expect(travelTimeMs(0, 60, calibration)).toBeCloseTo(170, 10);
    expect(travelTimeMs(160, 60, calibration)).toBeCloseTo(270, 10);
    expect(travelTimeMs(90, 90, calibration)).toBe(20);
    expect(travelTimeMs(undefined, 90, calibration)).toBeCloseTo(470, 10);
  });
});

describe("Servo", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("commands the pulse and waits the modelled travel time on its clock", async () => {
    vi.useFakeTimers({ now: 0 });
    const driver = recordingDriver();
    const feeder = createServo(driver, 6, { name: "feeder", secondsPer60Deg: 0.2, initialAngleDeg: 160 });
    let done = false;
    const move = feeder.moveTo(60).then((result) => {
      done = true;
      return result;
    });
    await vi.advanceTimersByTimeAsync(330);
    expect(done).toBe(false);
    expect(driver.calls).toEqual([["set", 6, angleToPulseUs(60, feeder.calibration)]]);
    await vi.advanceTimersByTimeAsync(4);
    expect(await move).toMatchObject({ travelTimeMs: expect.closeTo(333.33, 1) });
    expect(feeder.angleDeg).toBe(60);
    expect(feeder.travelTimeMs(feeder.angleDeg, 0)).toBeCloseTo(200, 10);
    expect(feeder.travelTimeMs(undefined, 0)).toBeCloseTo(600, 10);
  });

  it("can return at once, and release makes the position unknown", async () => {
    const driver = recordingDriver();
    const chute = createServo(driver, 7);
    const { travelTimeMs: travel } = await chute.moveTo(22, { wait: false });
    expect(travel).toBeCloseTo(600, 10);
    await chute.release();
    expect(chute.angleDeg).toBeUndefined();
    expect(driver.calls.at(-1)).toEqual(["release", 7]);
  });

  it("aborts the wait with the signal's reason, having sent the pulse", async () => {
    const driver = recordingDriver();
    const servo = createServo(driver, 0, { initialAngleDeg: 0 });
    const controller = new AbortController();
    const move = servo.moveTo(180, { signal: controller.signal });
    const reason = new Error("stop");
    controller.abort(reason);
    await expect(move).rejects.toBe(reason);
    expect(driver.calls).toHaveLength(1);
  });

  it("refuses a channel the driver does not have", () => {
    expect(() => createServo(recordingDriver(), 16)).toThrow(
      expect.objectContaining({ code: "SERVO_INVALID_CHANNEL" }),
    );
  });
});

describe("ServoMotion", () => {
  it("moves the horn at the calibrated speed towards the latest target", () => {
    const motion = new ServoMotion({ secondsPer60Deg: 0.1 }, { initialAngleDeg: 0 });
    motion.command(120, 1000);
    expect(motion.arrivalMs).toBeCloseTo(1200, 10);
    expect(motion.angleAt(1100)).toBeCloseTo(60, 10);
    expect(motion.angleAt(1300)).toBe(120);
    motion.command(0, 1150); // reverses mid-way, from 90°
    expect(motion.angleAt(1150)).toBeCloseTo(90, 10);
    expect(motion.arrivalMs).toBeCloseTo(1300, 10);
    expect(motion.angleAt(1225)).toBeCloseTo(45, 10);
  });

  it("is unknown during a blind first move and holds still when released", () => {
    const motion = new ServoMotion({ secondsPer60Deg: 0.1, rangeDeg: 180 });
    expect(motion.angleAt(0)).toBeUndefined();
    motion.commandPulse(1550, 0);
    expect(motion.angleAt(100)).toBeUndefined();
    expect(motion.angleAt(300)).toBeCloseTo(90, 10);
    motion.command(180, 300);
    motion.commandPulse(undefined, 350);
    expect(motion.angleAt(10_000)).toBeCloseTo(120, 10);
  });
});
