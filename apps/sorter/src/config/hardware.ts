import type { Resolution } from "./context.ts";
import type { RawConfig } from "./schema.ts";
import {
  type ChutePositions,
  COLOR_NAMES,
  type HardwareSettings,
  type ResolveConfigOptions,
  type RigSettings,
  type SensorSettings,
  type ServoSettings,
  type SorterPositions,
} from "./types.ts";

/** Servos often run a little slower than their data sheet (supply voltage, load, wear). */
export const DEFAULT_TRAVEL_MARGIN_PERCENT = 10;
const MAX_TRAVEL_MARGIN_PERCENT = 200;

/** Real hardware or the emulated rig (`MockMode`, `EmulatedRig.Enabled`, `--emulated`). */
export function resolveEmulated(
  raw: RawConfig,
  options: ResolveConfigOptions,
  { problem }: Resolution,
): boolean {
  const mock = raw.MockMode ?? {};
  const mockSensor = mock.EnableMockColorSensor ?? false;
  const mockServos = mock.EnableMockServos ?? false;
  if (mockSensor !== mockServos && options.emulated !== true && raw.EmulatedRig?.Enabled === undefined) {
    problem(
      "MockMode",
      "EnableMockColorSensor and EnableMockServos differ; the emulated rig replaces sensor and servos together.",
      "set both to true (emulated rig) or both to false (real hardware), or set EmulatedRig.Enabled.",
    );
  }
  return options.emulated ?? raw.EmulatedRig?.Enabled ?? (mockSensor && mockServos);
}

type RawHardware = NonNullable<RawConfig["Hardware"]>;

function resolveServo(
  hw: RawHardware,
  section: "PickServo" | "ChuteServo",
  channel: number,
  { problem }: Resolution,
): ServoSettings {
  const s = hw[section] ?? {};
  const settings: ServoSettings = {
    channel: s.Channel ?? channel,
    minPulseUs: s.MinPulseUs ?? 700,
    maxPulseUs: s.MaxPulseUs ?? 2400,
    rangeDeg: s.RangeDeg ?? 180,
    secondsPer60Deg: s.SecondsPer60Deg ?? 0.2,
    settleMs: s.SettleMs ?? 0,
  };
  const at = `Hardware.${section}`;
  if (settings.channel < 0 || settings.channel > 15) {
    problem(
      `${at}.Channel`,
      "must be 0–15 (PCA9685) or 0–1 (Pi hardware PWM).",
      "use the channel the servo is wired to.",
    );
  }
  if (!(settings.minPulseUs > 0 && settings.maxPulseUs > 0) || settings.minPulseUs === settings.maxPulseUs) {
    problem(
      `${at}.MinPulseUs`,
      "MinPulseUs and MaxPulseUs must be positive and differ.",
      "use your servo's pulse range, e.g. 700 and 2400.",
    );
  }
  if (!(settings.rangeDeg > 0 && settings.rangeDeg <= 360)) {
    problem(`${at}.RangeDeg`, "must be above 0 and at most 360.", "use the servo's travel, usually 180.");
  }
  if (!(settings.secondsPer60Deg > 0)) {
    problem(
      `${at}.SecondsPer60Deg`,
      "must be above 0: the sorter derives its waits from it.",
      "use the servo's data-sheet speed at your supply voltage (e.g. 0.2 for an SG90 at 4.8 V; measure to be sure).",
    );
  }
  if (!(settings.settleMs >= 0)) problem(`${at}.SettleMs`, "must be 0 or more.", "use e.g. 20.");
  return settings;
}

export function resolveHardware(raw: RawConfig, context: Resolution): HardwareSettings {
  const { problem } = context;
  const hw = raw.Hardware ?? {};
  const pick = resolveServo(hw, "PickServo", 0, context);
  const chute = resolveServo(hw, "ChuteServo", 1, context);
  if (pick.channel === chute.channel) {
    problem(
      "Hardware.ChuteServo.Channel",
      "is the same channel as Hardware.PickServo.Channel.",
      "wire and configure the two servos on different channels.",
    );
  }
  const travelMarginPercent = hw.TravelMarginPercent ?? DEFAULT_TRAVEL_MARGIN_PERCENT;
  if (!(travelMarginPercent >= 0 && travelMarginPercent <= MAX_TRAVEL_MARGIN_PERCENT)) {
    problem(
      "Hardware.TravelMarginPercent",
      `must be a percentage from 0 to ${MAX_TRAVEL_MARGIN_PERCENT}: how much longer than the modelled travel time each servo wait is.`,
      `use ${DEFAULT_TRAVEL_MARGIN_PERCENT} (the default); if the servos need much more, measure their SecondsPer60Deg under load and configure that instead.`,
    );
  }
  const servoDriver = hw.ServoDriver ?? "pca9685";
  if (servoDriver === "sysfs" && (pick.channel > 1 || chute.channel > 1)) {
    problem(
      "Hardware.ServoDriver",
      "sysfs hardware PWM has channels 0 and 1 only (GPIO12, GPIO13).",
      'set the servo channels to 0 and 1, or use "pca9685".',
    );
  }

  const pca9685OscillatorHz = hw.Pca9685OscillatorHz ?? 25_000_000;
  if (!(pca9685OscillatorHz >= 20_000_000 && pca9685OscillatorHz <= 30_000_000)) {
    problem(
      "Hardware.Pca9685OscillatorHz",
      `${pca9685OscillatorHz} Hz is not a PCA9685 internal oscillator (25 MHz nominal; real parts run about 23–27 MHz).`,
      "run `skittle servo calibrate-oscillator --write-config <this file>` to measure it, or remove the key to use 25000000.",
    );
  }
  if (typeof hw.PwmChip === "number" && hw.PwmChip < 0) {
    problem(
      "Hardware.PwmChip",
      "must be 0 or more.",
      'remove it to find the Pi\'s PWM controller automatically, or give the N of /sys/class/pwm/pwmchipN or a controller such as "1f00098000.pwm".',
    );
  }
  return {
    i2cBus: hw.I2cBus ?? 1,
    servoDriver,
    pca9685Address: hw.Pca9685Address ?? 0x40,
    pca9685OscillatorHz,
    pwmChip: hw.PwmChip,
    frequencyHz: hw.FrequencyHz ?? 50,
    pick,
    chute,
    travelMarginPercent,
  };
}

export function resolvePositions(
  raw: RawConfig,
  pick: ServoSettings,
  { problem }: Resolution,
): SorterPositions {
  const sp = raw.ServoPositions ?? {};
  const positions = {
    pick: sp.PickAngle ?? 160,
    detect: sp.DetectAngle ?? 60,
    drop: sp.DropAngle ?? 0,
    park: sp.ParkAngle ?? sp.DropAngle ?? 0,
  };
  for (const [key, value] of Object.entries({
    PickAngle: positions.pick,
    DetectAngle: positions.detect,
    DropAngle: positions.drop,
    ParkAngle: positions.park,
  })) {
    if (value > pick.rangeDeg) {
      problem(
        `ServoPositions.${key}`,
        `${value}° is beyond the pick servo's range (Hardware.PickServo.RangeDeg = ${pick.rangeDeg}).`,
        "use an angle within the range.",
      );
    }
  }
  if (new Set([positions.pick, positions.detect, positions.drop]).size < 3) {
    problem(
      "ServoPositions",
      "PickAngle, DetectAngle and DropAngle must differ.",
      "calibrate the three arm positions on your rig.",
    );
  }
  return positions;
}

export function resolveChutes(
  raw: RawConfig,
  chute: ServoSettings,
  { problem, warn }: Resolution,
): ChutePositions {
  const cp = raw.ChutePositions ?? {};
  const chutes = {
    Red: cp.Red ?? 22,
    Green: cp.Green ?? 44,
    Purple: cp.Purple ?? 66,
    Yellow: cp.Yellow ?? 88,
    Orange: cp.Orange ?? 112,
    default: cp.Default ?? 22,
    reject: cp.Reject ?? cp.Default ?? 22,
  };
  for (const [key, value] of Object.entries(chutes)) {
    if (value > chute.rangeDeg) {
      const name = key === "default" ? "Default" : key === "reject" ? "Reject" : key;
      problem(
        `ChutePositions.${name}`,
        `${value}° is beyond the chute servo's range (Hardware.ChuteServo.RangeDeg = ${chute.rangeDeg}).`,
        "use an angle within the range.",
      );
    }
  }
  const colourAtReject = COLOR_NAMES.find((name) => chutes[name] === chutes.reject);
  if (colourAtReject !== undefined) {
    warn(
      `ChutePositions.Reject (${chutes.reject}°) is the ${colourAtReject} chute: unrecognised objects land with ${colourAtReject}. Set ChutePositions.Reject to a bin of its own.`,
    );
  }
  return chutes;
}

export function resolveSensor(raw: RawConfig, { problem, mustExist }: Resolution): SensorSettings {
  const sn = raw.Sensor ?? {};
  const integrationTimeMs = sn.IntegrationTimeMs ?? 153.6;
  if (!(integrationTimeMs >= 2.4 && integrationTimeMs <= 614.4)) {
    problem(
      "Sensor.IntegrationTimeMs",
      "must be 2.4–614.4 ms.",
      "use 153.6 (the original's) or another multiple of 2.4.",
    );
  }
  const readsPerSkittle = sn.ReadsPerSkittle ?? 1;
  if (readsPerSkittle < 1 || readsPerSkittle > 20) {
    problem(
      "Sensor.ReadsPerSkittle",
      "must be 1–20.",
      "use 1–3; more reads average out noise but cost one integration time each.",
    );
  }
  const calibrationFile = mustExist("Sensor.CalibrationFile", sn.CalibrationFile, "the calibration file");
  return {
    address: sn.Address ?? 0x29,
    integrationTimeMs,
    gain: (sn.Gain ?? 16) as 1 | 4 | 16 | 60,
    autoRange: sn.AutoRange ?? false,
    readsPerSkittle,
    calibrationFile,
    emptyPicksBeforeIdle: sn.EmptyPicksBeforeIdle ?? 3,
    idleMs: sn.IdleMs ?? 5000,
  };
}

export function resolveRig(
  raw: RawConfig,
  options: ResolveConfigOptions,
  { problem }: Resolution,
): RigSettings {
  const er = raw.EmulatedRig ?? {};
  const skittles = options.skittles ?? er.Skittles ?? 100;
  if (skittles < 1) problem("EmulatedRig.Skittles", "must be 1 or more.", "use e.g. 100 (or --skittles N).");
  const sequence = raw.MockMode?.MockColorSequence;
  if (sequence !== undefined) {
    const known = new Set([...COLOR_NAMES.map((n) => n.toLowerCase()), "none", "empty", "unknown"]);
    sequence.forEach((name, index) => {
      if (!known.has(name.toLowerCase())) {
        problem(
          `MockMode.MockColorSequence.${index}`,
          `"${name}" is not a colour the rig knows.`,
          "use Red, Green, Purple, Yellow, Orange, None (empty slot) or Unknown (a foreign object).",
        );
      }
    });
  }
  const timeScale = er.TimeScale ?? 0;
  if (timeScale < 0)
    problem("EmulatedRig.TimeScale", "must be 0 or more.", "use 0 (as fast as possible) or 1 (real time).");
  return {
    skittles,
    seed: er.Seed ?? 1,
    sequence,
    servoSecondsPer60Deg: er.ServoSecondsPer60Deg,
    sensorFieldOfViewDeg: er.SensorFieldOfViewDeg ?? 8,
    timeScale,
  };
}
