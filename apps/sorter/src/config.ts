import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { validateRegistrationId } from "@skittlesorter/attestation";
import { isKeyType, KEY_TYPES, type KeyType } from "@skittlesorter/csr";
import { DPS_CSR_API_VERSION, DPS_GLOBAL_HOST } from "@skittlesorter/dps-mqtt";
import { z } from "zod";
import { ConfigError, type ConfigProblem, describeError } from "./errors.ts";

// ---------------------------------------------------------------------------------------------------------
// Raw schema: the original appsettings.json sections and keys, plus ours. Every key is optional here;
// required keys and cross-key rules are checked afterwards, with fixes that name the key.

/** Numbers may come as strings (environment overrides). */
const num = z.preprocess(
  (value) =>
    typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))
      ? Number(value)
      : value,
  z.number({ error: "must be a number" }),
);
const int = z.preprocess(
  (value) =>
    typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))
      ? Number(value)
      : value,
  z.number({ error: "must be a whole number" }).int({ error: "must be a whole number" }),
);
const bool = z.preprocess(
  (value) => {
    if (typeof value !== "string") return value;
    if (/^(true|1|yes|on)$/i.test(value)) return true;
    if (/^(false|0|no|off)$/i.test(value)) return false;
    return value;
  },
  z.boolean({ error: "must be true or false" }),
);
const str = z.string({ error: "must be a string" });
/** JSON arrays/objects may come as JSON text (environment overrides). */
const json = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => {
    if (typeof value === "string" && /^\s*[[{]/.test(value)) {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
    }
    return value;
  }, schema);
const angle = num.pipe(
  z.number().min(0, { error: "must be 0° or more" }).max(360, { error: "must be 360° or less" }),
);
const caseInsensitiveEnum = <const T extends readonly [string, ...string[]]>(values: T, message: string) =>
  z.preprocess(
    (value) =>
      typeof value === "string"
        ? (values.find((v) => v.toLowerCase() === value.toLowerCase()) ?? value)
        : value,
    z.enum(values, { error: message }),
  );

const servoSchema = z.strictObject({
  Channel: int.optional(),
  MinPulseUs: num.optional(),
  MaxPulseUs: num.optional(),
  RangeDeg: num.optional(),
  SecondsPer60Deg: num.optional(),
  SettleMs: num.optional(),
});

const attributeValue = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: "attribute values must be strings, numbers, booleans or null",
});

export const rawConfigSchema = z.strictObject({
  DataDir: str.optional(),
  MockMode: z
    .strictObject({
      EnableMockColorSensor: bool.optional(),
      EnableMockServos: bool.optional(),
      MockColorSequence: json(z.array(str, { error: "must be an array of colour names" })).optional(),
    })
    .optional(),
  ServoPositions: z
    .strictObject({
      PickAngle: angle.optional(),
      DetectAngle: angle.optional(),
      DropAngle: angle.optional(),
      ParkAngle: angle.optional(),
    })
    .optional(),
  ChutePositions: z
    .strictObject({
      Red: angle.optional(),
      Green: angle.optional(),
      Purple: angle.optional(),
      Yellow: angle.optional(),
      Orange: angle.optional(),
      Default: angle.optional(),
      Reject: angle.optional(),
    })
    .optional(),
  Hardware: z
    .strictObject({
      I2cBus: int.optional(),
      ServoDriver: caseInsensitiveEnum(["pca9685", "sysfs"], 'must be "pca9685" or "sysfs"').optional(),
      Pca9685Address: int.optional(),
      PwmChip: z
        .union([int, str], {
          error:
            'must be a chip number (pwmchipN), a /sys/class/pwm/pwmchipN path or a PWM controller such as "1f00098000.pwm"',
        })
        .optional(),
      Pca9685OscillatorHz: num.optional(),
      FrequencyHz: num.optional(),
      PickServo: servoSchema.optional(),
      ChuteServo: servoSchema.optional(),
      TravelMarginPercent: num.optional(),
    })
    .optional(),
  Sensor: z
    .strictObject({
      Address: int.optional(),
      IntegrationTimeMs: num.optional(),
      AutoRange: bool.optional(),
      Gain: num
        .pipe(z.number().refine((v) => [1, 4, 16, 60].includes(v), { error: "must be 1, 4, 16 or 60" }))
        .optional(),
      ReadsPerSkittle: int.optional(),
      CalibrationFile: str.optional(),
      EmptyPicksBeforeIdle: int.optional(),
      IdleMs: num.optional(),
    })
    .optional(),
  EmulatedRig: z
    .strictObject({
      Enabled: bool.optional(),
      Skittles: int.optional(),
      Seed: int.optional(),
      ServoSecondsPer60Deg: num.optional(),
      SensorFieldOfViewDeg: num.optional(),
      TimeScale: num.optional(),
    })
    .optional(),
  IoTHub: z
    .strictObject({
      DeviceConnectionString: str.optional(),
      DeviceId: str.optional(),
      SendTelemetry: bool.optional(),
      TwinReportIntervalMs: num.optional(),
      DpsProvisioning: z
        .strictObject({
          ProvisioningHost: str.optional(),
          IdScope: str.optional(),
          RegistrationId: str.optional(),
          AttestationMethod: caseInsensitiveEnum(
            ["SymmetricKey", "X509"],
            'must be "SymmetricKey" or "X509"',
          ).optional(),
          EnrollmentGroupKeyBase64: str.optional(),
          DeviceKeyBase64: str.optional(),
          AttestationCertPath: str.optional(),
          AttestationKeyPath: str.optional(),
          AttestationCertChainPath: str.optional(),
          CsrFilePath: str.optional(),
          CsrKeyFilePath: str.optional(),
          IssuedCertFilePath: str.optional(),
          ApiVersion: str.optional(),
          SasExpirySeconds: int.optional(),
          AutoGenerateCsr: bool.optional(),
          MqttPort: int.optional(),
          Transport: caseInsensitiveEnum(["mqtts", "wss"], 'must be "mqtts" or "wss"').optional(),
          TimeoutMs: num.optional(),
          EnableDebugLogging: bool.optional(),
        })
        .optional(),
    })
    .optional(),
  Certificates: z
    .strictObject({
      KeyType: str.optional(),
      RenewalWindowDays: num.optional(),
      TrustedCaFile: str.optional(),
    })
    .optional(),
  Outbox: z
    .strictObject({
      MaxMessages: int.optional(),
      WhenFull: caseInsensitiveEnum(
        ["drop-oldest", "reject-new"],
        'must be "drop-oldest" or "reject-new"',
      ).optional(),
      FlushTimeoutMs: num.optional(),
    })
    .optional(),
  Adr: z
    .strictObject({
      Enabled: bool.optional(),
      SubscriptionId: str.optional(),
      ResourceGroupName: str.optional(),
      NamespaceName: str.optional(),
      BaseUrl: str.optional(),
      Token: str.optional(),
      DeviceUpdate: z
        .strictObject({
          Enabled: bool.optional(),
          Attributes: json(z.record(z.string(), attributeValue)).optional(),
          Tags: json(z.record(z.string(), z.string({ error: "tag values must be strings" }))).optional(),
          DeviceEnabled: bool.optional(),
          OperatingSystemVersion: str.optional(),
        })
        .optional(),
    })
    .optional(),
});

export type RawConfig = z.output<typeof rawConfigSchema>;

// ---------------------------------------------------------------------------------------------------------
// The resolved configuration the app runs with.

export type SkittleColorName = "Red" | "Green" | "Purple" | "Yellow" | "Orange";
export const COLOR_NAMES: readonly SkittleColorName[] = ["Red", "Green", "Purple", "Yellow", "Orange"];

export interface ServoSettings {
  channel: number;
  minPulseUs: number;
  maxPulseUs: number;
  rangeDeg: number;
  secondsPer60Deg: number;
  settleMs: number;
}

export type DpsAttestationSettings =
  | { kind: "symmetricKey"; groupKey?: string; deviceKey?: string }
  | { kind: "x509"; certPath: string; keyPath: string; chainPath?: string };

export interface DpsSettings {
  host: string;
  port: number;
  transport: "mqtts" | "wss";
  idScope: string;
  registrationId: string;
  attestation: DpsAttestationSettings;
  apiVersion: string;
  sasTtlSeconds: number;
  timeoutMs: number;
  debug: boolean;
}

export interface SorterConfig {
  /** The configuration file, absolute (undefined when built in memory). */
  file: string | undefined;
  /** Relative paths in the file resolve against this directory. */
  configDir: string;
  dataDir: string;
  emulated: boolean;
  positions: { pick: number; detect: number; drop: number; park: number };
  chutes: Record<SkittleColorName, number> & { default: number; reject: number };
  hardware: {
    i2cBus: number;
    servoDriver: "pca9685" | "sysfs";
    pca9685Address: number;
    /** The PCA9685's measured oscillator (`skittle servo calibrate-oscillator`); 25 MHz when not calibrated. */
    pca9685OscillatorHz: number;
    /**
     * sysfs PWM chip: a number, a chip path or a controller name; undefined finds the Raspberry Pi's PWM controller
     * through the chips' device links (numbers differ between kernels).
     */
    pwmChip: number | string | undefined;
    frequencyHz: number;
    pick: ServoSettings;
    chute: ServoSettings;
    /**
     * Every modelled servo wait (travel + settle) is this much longer than the servo's `secondsPer60Deg` and
     * `settleMs` say, so servos a little slower than configured still arrive before the loop moves on.
     */
    travelMarginPercent: number;
  };
  sensor: {
    address: number;
    integrationTimeMs: number;
    gain: 1 | 4 | 16 | 60;
    /** Gain/integration auto-ranging; readings are normalised to `integrationTimeMs` and `gain`. */
    autoRange: boolean;
    readsPerSkittle: number;
    calibrationFile: string | undefined;
    emptyPicksBeforeIdle: number;
    idleMs: number;
  };
  rig: {
    skittles: number;
    seed: number;
    /** Colour sequence (cycled); undefined: random colours from the seed. */
    sequence: string[] | undefined;
    servoSecondsPer60Deg: number | undefined;
    sensorFieldOfViewDeg: number;
    /** 0: virtual time, as fast as possible; 1: real time; 0.1: ten times faster than real. */
    timeScale: number;
  };
  telemetry: { enabled: boolean; configuredDeviceId: string | undefined; twinReportIntervalMs: number };
  /** Present when telemetry is enabled. */
  dps: DpsSettings | undefined;
  credentials: {
    keyType: KeyType;
    renewalWindowMs: number;
    trustedCaFile: string | undefined;
    keyFile: string;
    chainFile: string;
    csrFile: string;
    metadataFile: string;
  };
  outbox: {
    file: string;
    maxMessages: number;
    whenFull: "drop-oldest" | "reject-new";
    flushTimeoutMs: number;
  };
  adr:
    | {
        subscriptionId: string;
        resourceGroup: string;
        namespace: string;
        baseUrl: string | undefined;
        token: string | undefined;
        deviceUpdate:
          | {
              attributes: Record<string, string | number | boolean | null>;
              tags: Record<string, string>;
              enabled: boolean;
              operatingSystemVersion: string | undefined;
            }
          | undefined;
      }
    | undefined;
  /** Things that work but deserve attention (unused keys, odd values). */
  warnings: string[];
}

export interface LoadConfigOptions {
  /** Environment to read `SKITTLE__Section__Key` overrides from (the app passes `process.env`). */
  env?: Record<string, string | undefined>;
  /** Overrides the data directory (`--data-dir`). */
  dataDir?: string | undefined;
  /** Forces the emulated rig (`--emulated`). */
  emulated?: boolean | undefined;
  /** Overrides `EmulatedRig.Skittles` (`--skittles`). */
  skittles?: number | undefined;
}

export const ENV_PREFIX = "SKITTLE__";

/** Keys whose values are secrets: never echoed in messages. */
const SECRET_KEYS = new Set([
  "enrollmentgroupkeybase64",
  "devicekeybase64",
  "token",
  "deviceconnectionstring",
]);

/** Reads, overrides from the environment, validates and resolves `appsettings.json`. Throws {@link ConfigError}. */
export async function loadConfig(file: string, options: LoadConfigOptions = {}): Promise<SorterConfig> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const missing = (error as { code?: unknown }).code === "ENOENT";
    throw new ConfigError("CONFIG_NOT_FOUND", path, [
      {
        path: "(file)",
        message: missing ? "does not exist." : `cannot be read (${describeError(error)}).`,
        fix: missing
          ? "copy apps/sorter/config/appsettings.sas.template.json (or .x509.template.json) to this path and fill it in, or pass --config with the right path."
          : "check the file's permissions.",
      },
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    throw new ConfigError(
      "CONFIG_INVALID_JSON",
      path,
      [
        {
          path: "(file)",
          message: `is not valid JSON (${describeError(error)}).`,
          fix: "fix the syntax (no comments or trailing commas in JSON); compare with the templates in apps/sorter/config/.",
        },
      ],
      { cause: error },
    );
  }
  return resolveConfig(raw, { ...options, file: path });
}

export interface ResolveConfigOptions extends LoadConfigOptions {
  /** Where the configuration came from; relative paths resolve against its directory. */
  file?: string | undefined;
  /** When there is no file: the directory relative paths resolve against. Default: the working directory. */
  configDir?: string | undefined;
}

/** Validates and resolves an already parsed configuration object. Throws {@link ConfigError}. */
export function resolveConfig(input: unknown, options: ResolveConfigOptions = {}): SorterConfig {
  const file = options.file;
  const configDir = file === undefined ? resolve(options.configDir ?? ".") : dirname(file);
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError("CONFIG_INVALID", file, [
      {
        path: "(file)",
        message: "must hold a JSON object with sections such as IoTHub and ServoPositions.",
        fix: "start from a template in apps/sorter/config/.",
      },
    ]);
  }
  const problems: ConfigProblem[] = [];
  let tree = canonicalizeKeys(stripComments(input as Record<string, unknown>), rawConfigSchema);
  tree = applyEnvOverrides(tree, options.env ?? {}, problems);
  tree = emptyStringsToUndefined(tree) as Record<string, unknown>;

  let parsed = rawConfigSchema.safeParse(tree);
  if (!parsed.success) {
    // Report the type problems, then drop the offending values and check the rest too, so that one run lists
    // every problem.
    for (const issue of parsed.error.issues) {
      problems.push(...problemsFromIssue(issue));
      removeAt(
        tree,
        issue.code === "unrecognized_keys" ? issue.keys.map((key) => [...issue.path, key]) : [issue.path],
      );
    }
    parsed = rawConfigSchema.safeParse(tree);
  }
  if (parsed.success) {
    const registrationId = parsed.data.IoTHub?.DpsProvisioning?.RegistrationId;
    const data = substituteTokens(parsed.data, registrationId) as RawConfig;
    const known = new Set(problems.map((problem) => problem.path));
    const semantic: ConfigProblem[] = [];
    const config = buildConfig(data, { ...options, configDir, file }, semantic);
    problems.push(...semantic.filter((problem) => !known.has(problem.path)));
    if (problems.length === 0) return config;
  }
  throw new ConfigError("CONFIG_INVALID", file, problems);
}

// ---------------------------------------------------------------------------------------------------------
// Building the resolved config, with the semantic checks.

const DAY_MS = 24 * 3600 * 1000;
/** Servos often run a little slower than their data sheet (supply voltage, load, wear). */
export const DEFAULT_TRAVEL_MARGIN_PERCENT = 10;
const MAX_TRAVEL_MARGIN_PERCENT = 200;

/** The first of systemd's `$STATE_DIRECTORY` paths (set for units with `StateDirectory=`; colon-separated). */
function systemdStateDirectory(env: Record<string, string | undefined>): string | undefined {
  const first = env.STATE_DIRECTORY?.split(":")[0];
  return first === undefined || first === "" ? undefined : resolve(first);
}

function buildConfig(
  raw: RawConfig,
  options: ResolveConfigOptions & { configDir: string },
  problems: ConfigProblem[],
): SorterConfig {
  const warnings: string[] = [];
  const { configDir } = options;
  const fromConfig = (path: string): string => (isAbsolute(path) ? path : resolve(configDir, path));
  const problem = (path: string, message: string, fix: string): void => {
    problems.push({ path, message, fix });
  };
  const mustExist = (path: string, value: string | undefined, what: string): string | undefined => {
    if (value === undefined) return undefined;
    const absolute = fromConfig(value);
    if (!existsSync(absolute)) {
      problem(
        path,
        `${what} "${absolute}" does not exist.`,
        `fix the path (relative paths resolve against ${configDir}).`,
      );
    }
    return absolute;
  };

  // Hardware mode.
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
  const emulated = options.emulated ?? raw.EmulatedRig?.Enabled ?? (mockSensor && mockServos);

  // Servos.
  const hw = raw.Hardware ?? {};
  const servo = (section: "PickServo" | "ChuteServo", channel: number): ServoSettings => {
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
    if (
      !(settings.minPulseUs > 0 && settings.maxPulseUs > 0) ||
      settings.minPulseUs === settings.maxPulseUs
    ) {
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
  };
  const pick = servo("PickServo", 0);
  const chute = servo("ChuteServo", 1);
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
    warnings.push(
      `ChutePositions.Reject (${chutes.reject}°) is the ${colourAtReject} chute: unrecognised objects land with ${colourAtReject}. Set ChutePositions.Reject to a bin of its own.`,
    );
  }

  // Sensor.
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

  // Emulated rig.
  const er = raw.EmulatedRig ?? {};
  const skittles = options.skittles ?? er.Skittles ?? 100;
  if (skittles < 1) problem("EmulatedRig.Skittles", "must be 1 or more.", "use e.g. 100 (or --skittles N).");
  const sequence = mock.MockColorSequence;
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

  // IoT Hub + DPS.
  const hub = raw.IoTHub ?? {};
  const telemetryEnabled = hub.SendTelemetry ?? true;
  if (hub.DeviceConnectionString !== undefined && !/^<|^YOUR_/i.test(hub.DeviceConnectionString)) {
    warnings.push(
      "IoTHub.DeviceConnectionString is ignored: the sorter always provisions through DPS and connects with its issued certificate.",
    );
  }
  const d = hub.DpsProvisioning ?? {};
  let dps: DpsSettings | undefined;
  if (telemetryEnabled) {
    const at = "IoTHub.DpsProvisioning";
    if (hub.DpsProvisioning === undefined) {
      problem(
        at,
        "section is missing.",
        "add it (see the templates), or set IoTHub.SendTelemetry to false to sort offline.",
      );
    }
    const idScope = d.IdScope;
    if (idScope === undefined) {
      problem(
        `${at}.IdScope`,
        "is required.",
        "copy the ID scope from your DPS instance (Azure portal → DPS → Overview, e.g. 0ne00012345) or from the simulator's sim.json.",
      );
    } else if (!/^[A-Za-z0-9]+$/.test(idScope)) {
      problem(
        `${at}.IdScope`,
        "must be letters and digits only.",
        "copy the ID scope exactly, e.g. 0ne00012345.",
      );
    }
    let registrationId = d.RegistrationId;
    if (registrationId === undefined) {
      problem(
        `${at}.RegistrationId`,
        "is required.",
        "choose the device's registration id: up to 128 of a-z 0-9 . : _ -, e.g. skittle-sorter-01.",
      );
    } else {
      try {
        registrationId = validateRegistrationId(registrationId);
      } catch (error) {
        problem(
          `${at}.RegistrationId`,
          describeError(error).replace(/^[A-Z_]+: /, ""),
          "use up to 128 of a-z 0-9 . : _ -, starting and ending with a letter or digit.",
        );
      }
    }
    const hostValue = d.ProvisioningHost ?? DPS_GLOBAL_HOST;
    const hostMatch = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostValue);
    if (hostMatch === null) {
      problem(
        `${at}.ProvisioningHost`,
        "is not a host name or host:port.",
        `use ${DPS_GLOBAL_HOST} (or the simulator's host:port).`,
      );
    }
    const transport = d.Transport ?? "mqtts";
    const port =
      hostMatch?.[2] !== undefined
        ? Number(hostMatch[2])
        : (d.MqttPort ?? (transport === "wss" ? 443 : 8883));
    if (!(port > 0 && port < 65536))
      problem(`${at}.MqttPort`, "must be 1–65535.", "use 8883 (MQTT over TLS) or 443 with Transport wss.");
    const method = d.AttestationMethod ?? "SymmetricKey";
    let attestation: DpsAttestationSettings;
    if (method === "SymmetricKey") {
      const groupKey = d.EnrollmentGroupKeyBase64;
      const deviceKey = d.DeviceKeyBase64;
      if (groupKey === undefined && deviceKey === undefined) {
        problem(
          `${at}.EnrollmentGroupKeyBase64`,
          "is required for SymmetricKey attestation (or DeviceKeyBase64).",
          `put the enrollment group's primary key in the environment variable ${ENV_PREFIX}IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64 (keeps it out of the file), or set it here.`,
        );
      }
      for (const [key, value] of [
        ["EnrollmentGroupKeyBase64", groupKey],
        ["DeviceKeyBase64", deviceKey],
      ] as const) {
        if (value !== undefined && !isBase64Key(value)) {
          problem(
            `${at}.${key}`,
            "is not a base64 key of at least 16 bytes.",
            "copy the key exactly as DPS shows it (base64, e.g. 88 characters for 64 bytes).",
          );
        }
      }
      attestation = {
        kind: "symmetricKey",
        ...(groupKey === undefined ? {} : { groupKey }),
        ...(deviceKey === undefined || groupKey !== undefined ? {} : { deviceKey }),
      };
    } else {
      const certPath = mustExist(
        `${at}.AttestationCertPath`,
        d.AttestationCertPath,
        "the onboarding certificate",
      );
      const keyPath = mustExist(`${at}.AttestationKeyPath`, d.AttestationKeyPath, "the onboarding key");
      const chainPath = mustExist(
        `${at}.AttestationCertChainPath`,
        d.AttestationCertChainPath,
        "the certificate chain",
      );
      if (certPath === undefined) {
        problem(
          `${at}.AttestationCertPath`,
          "is required for X509 attestation.",
          "point it at the onboarding (bootstrap) certificate PEM whose CN is the registration id.",
        );
      }
      if (keyPath === undefined) {
        problem(
          `${at}.AttestationKeyPath`,
          "is required for X509 attestation.",
          "point it at the onboarding certificate's private key PEM.",
        );
      }
      attestation = {
        kind: "x509",
        certPath: certPath ?? "",
        keyPath: keyPath ?? "",
        ...(chainPath === undefined ? {} : { chainPath }),
      };
    }
    const apiVersion = d.ApiVersion ?? DPS_CSR_API_VERSION;
    if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion) || apiVersion < DPS_CSR_API_VERSION) {
      problem(
        `${at}.ApiVersion`,
        `"${apiVersion}" cannot issue certificates from a CSR.`,
        `use ${DPS_CSR_API_VERSION} (or remove the key).`,
      );
    }
    if (d.AutoGenerateCsr === false) {
      problem(
        `${at}.AutoGenerateCsr`,
        "false is not supported: the sorter makes a fresh key and CSR for every certificate it gets.",
        "set it to true or remove it.",
      );
    }
    const sasTtlSeconds = d.SasExpirySeconds ?? 3600;
    if (sasTtlSeconds < 60) problem(`${at}.SasExpirySeconds`, "must be 60 or more.", "use 3600.");
    dps = {
      host: hostMatch?.[1] ?? hostValue,
      port,
      transport,
      idScope: idScope ?? "",
      registrationId: registrationId ?? "",
      attestation,
      apiVersion,
      sasTtlSeconds,
      timeoutMs: d.TimeoutMs ?? 300_000,
      debug: d.EnableDebugLogging ?? false,
    };
  }
  const configuredDeviceId = hub.DeviceId;

  // Certificates.
  const certs = raw.Certificates ?? {};
  const keyType = certs.KeyType ?? "ec-p384";
  if (!isKeyType(keyType)) {
    problem(
      "Certificates.KeyType",
      `"${keyType}" is not a supported key type.`,
      `use one of ${KEY_TYPES.join(", ")} (DPS documents ec-p384).`,
    );
  }
  const renewalWindowDays = certs.RenewalWindowDays ?? 7;
  if (!(renewalWindowDays > 0 && renewalWindowDays < 90)) {
    problem(
      "Certificates.RenewalWindowDays",
      "must be above 0 and below 90.",
      "use 7 (the ADR policy default).",
    );
  }
  const trustedCaFile = mustExist("Certificates.TrustedCaFile", certs.TrustedCaFile, "the trusted CA file");

  // Data directory and the files in it.
  // Precedence: --data-dir, then DataDir, then the directory systemd made for StateDirectory=, then ./data.
  const stateDirectory = systemdStateDirectory(options.env ?? {});
  const dataDir =
    options.dataDir !== undefined
      ? resolve(options.dataDir)
      : raw.DataDir !== undefined
        ? fromConfig(raw.DataDir)
        : (stateDirectory ?? fromConfig("data"));
  if (options.dataDir === undefined && raw.DataDir !== undefined && stateDirectory !== undefined) {
    if (dataDir !== stateDirectory) {
      warnings.push(
        `DataDir (${dataDir}) is used instead of systemd's state directory (${stateDirectory}); the unit's ProtectSystem=strict leaves only the state directory writable. Remove DataDir to use it.`,
      );
    }
  }
  const inData = (value: string | undefined, fallback: string): string =>
    value === undefined ? resolve(dataDir, fallback) : isAbsolute(value) ? value : resolve(dataDir, value);
  const id = dps?.registrationId || "device";
  const chainFile = inData(d.IssuedCertFilePath, `certs/${id}.chain.pem`);

  // Outbox.
  const ob = raw.Outbox ?? {};
  const maxMessages = ob.MaxMessages ?? 10_000;
  if (maxMessages < 1)
    problem("Outbox.MaxMessages", "must be 1 or more.", "use e.g. 10000 (about 2 MB of telemetry).");

  // ADR.
  const adrRaw = raw.Adr ?? {};
  let adr: SorterConfig["adr"];
  if (adrRaw.Enabled === true) {
    for (const key of ["SubscriptionId", "ResourceGroupName", "NamespaceName"] as const) {
      if (adrRaw[key] === undefined) {
        problem(
          `Adr.${key}`,
          "is required when Adr.Enabled is true.",
          "copy it from your ADR namespace, or set Adr.Enabled to false.",
        );
      }
    }
    const du = adrRaw.DeviceUpdate;
    adr = {
      subscriptionId: adrRaw.SubscriptionId ?? "",
      resourceGroup: adrRaw.ResourceGroupName ?? "",
      namespace: adrRaw.NamespaceName ?? "",
      baseUrl: adrRaw.BaseUrl,
      token: adrRaw.Token,
      deviceUpdate:
        du?.Enabled === true
          ? {
              attributes: du.Attributes ?? {},
              tags: du.Tags ?? {},
              enabled: du.DeviceEnabled ?? true,
              operatingSystemVersion: du.OperatingSystemVersion,
            }
          : undefined,
    };
    if (adr.token === undefined) {
      problem(
        "Adr.Token",
        "is required when Adr.Enabled is true (a bearer token for the ARM API).",
        `set ${ENV_PREFIX}Adr__Token in the environment (the simulator's sim.json has adr.token), or set Adr.Enabled to false.`,
      );
    }
  }

  return {
    file: options.file,
    configDir,
    dataDir,
    emulated,
    positions,
    chutes,
    hardware: {
      i2cBus: hw.I2cBus ?? 1,
      servoDriver,
      pca9685Address: hw.Pca9685Address ?? 0x40,
      pca9685OscillatorHz,
      pwmChip: hw.PwmChip,
      frequencyHz: hw.FrequencyHz ?? 50,
      pick,
      chute,
      travelMarginPercent,
    },
    sensor: {
      address: sn.Address ?? 0x29,
      integrationTimeMs,
      gain: (sn.Gain ?? 16) as 1 | 4 | 16 | 60,
      autoRange: sn.AutoRange ?? false,
      readsPerSkittle,
      calibrationFile,
      emptyPicksBeforeIdle: sn.EmptyPicksBeforeIdle ?? 3,
      idleMs: sn.IdleMs ?? 5000,
    },
    rig: {
      skittles,
      seed: er.Seed ?? 1,
      sequence,
      servoSecondsPer60Deg: er.ServoSecondsPer60Deg,
      sensorFieldOfViewDeg: er.SensorFieldOfViewDeg ?? 8,
      timeScale,
    },
    telemetry: {
      enabled: telemetryEnabled,
      configuredDeviceId,
      twinReportIntervalMs: hub.TwinReportIntervalMs ?? 30_000,
    },
    dps,
    credentials: {
      keyType: isKeyType(keyType) ? keyType : "ec-p384",
      renewalWindowMs: renewalWindowDays * DAY_MS,
      trustedCaFile,
      keyFile: inData(d.CsrKeyFilePath, `certs/${id}.key.pem`),
      chainFile,
      csrFile: inData(d.CsrFilePath, `certs/${id}.csr.pem`),
      metadataFile: `${chainFile.replace(/\.pem$/, "")}.json`,
    },
    outbox: {
      file: resolve(dataDir, "outbox.sqlite"),
      maxMessages,
      whenFull: ob.WhenFull ?? "drop-oldest",
      flushTimeoutMs: ob.FlushTimeoutMs ?? 10_000,
    },
    adr,
    warnings,
  };
}

function isBase64Key(value: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) return false;
  return Buffer.from(value, "base64").length >= 16;
}

// ---------------------------------------------------------------------------------------------------------
// Pre-processing: comments, key case, environment overrides, empty strings, tokens.

/** Keys starting with `_` or `$` (`"_comment"`, `"$schema"`) are comments. */
function stripComments(tree: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    if (key.startsWith("_") || key.startsWith("$")) continue;
    out[key] = isPlainObject(value) ? stripComments(value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The object schema inside wrappers (optional, preprocess pipes), or undefined for non-objects. */
function objectShape(schema: unknown): Record<string, unknown> | undefined {
  let current = schema as { _zod?: { def?: Record<string, unknown> } } | undefined;
  for (let depth = 0; depth < 8 && current !== undefined; depth += 1) {
    const def = current._zod?.def;
    if (def === undefined) return undefined;
    if (def.type === "object") return def.shape as Record<string, unknown>;
    if (def.type === "optional" || def.type === "nullable" || def.type === "default") {
      current = def.innerType as typeof current;
    } else if (def.type === "pipe") {
      current = def.out as typeof current;
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** Configuration keys are case-insensitive (as in .NET): rename keys to the schema's spelling. */
function canonicalizeKeys(tree: Record<string, unknown>, schema: unknown): Record<string, unknown> {
  const shape = objectShape(schema);
  if (shape === undefined) return tree;
  const byLower = new Map(Object.keys(shape).map((key) => [key.toLowerCase(), key]));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    const canonical = byLower.get(key.toLowerCase()) ?? key;
    out[canonical] = isPlainObject(value) ? canonicalizeKeys(value, shape[canonical]) : value;
  }
  return out;
}

/** `SKITTLE__IoTHub__DpsProvisioning__IdScope=…` sets `IoTHub.DpsProvisioning.IdScope` (case-insensitive keys). */
function applyEnvOverrides(
  tree: Record<string, unknown>,
  env: Record<string, string | undefined>,
  problems: ConfigProblem[],
): Record<string, unknown> {
  const out = structuredClone(tree);
  const entries = Object.entries(env)
    .filter(
      (entry): entry is [string, string] =>
        entry[0].toUpperCase().startsWith(ENV_PREFIX) && entry[1] !== undefined,
    )
    .sort(([a], [b]) => a.localeCompare(b));
  for (const [name, value] of entries) {
    const segments = name.slice(ENV_PREFIX.length).split("__");
    if (segments.some((segment) => segment === "")) {
      problems.push({
        path: name,
        message: "is not a valid override name.",
        fix: `use ${ENV_PREFIX}Section__Key, e.g. ${ENV_PREFIX}IoTHub__DpsProvisioning__IdScope.`,
      });
      continue;
    }
    let node: Record<string, unknown> = out;
    let shape: unknown = rawConfigSchema;
    segments.forEach((segment, index) => {
      const keys = objectShape(shape);
      const canonical =
        (keys && Object.keys(keys).find((key) => key.toLowerCase() === segment.toLowerCase())) ??
        Object.keys(node).find((key) => key.toLowerCase() === segment.toLowerCase()) ??
        segment;
      shape = keys?.[canonical];
      if (index === segments.length - 1) {
        node[canonical] = value;
        return;
      }
      const next = node[canonical];
      if (!isPlainObject(next)) node[canonical] = {};
      node = node[canonical] as Record<string, unknown>;
    });
  }
  return out;
}

function removeAt(tree: Record<string, unknown>, paths: readonly (readonly PropertyKey[])[]): void {
  for (const path of paths) {
    let node: unknown = tree;
    path.forEach((segment, index) => {
      if (node === null || typeof node !== "object") return;
      const container = node as Record<string, unknown>;
      if (index === path.length - 1) delete container[String(segment)];
      else node = container[String(segment)];
    });
  }
}

function emptyStringsToUndefined(value: unknown): unknown {
  if (typeof value === "string") return value.trim() === "" ? undefined : value;
  if (Array.isArray(value)) return value.map(emptyStringsToUndefined);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      const next = emptyStringsToUndefined(inner);
      if (next !== undefined) out[key] = next;
    }
    return out;
  }
  return value;
}

/** Replaces `{RegistrationId}` (any case) in every string value, as the original did in paths and DeviceId. */
function substituteTokens(value: unknown, registrationId: string | undefined): unknown {
  if (typeof value === "string") {
    return registrationId === undefined
      ? value
      : value.replace(/\{registrationid\}/gi, registrationId.toLowerCase());
  }
  if (Array.isArray(value)) return value.map((item) => substituteTokens(item, registrationId));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = key === "RegistrationId" ? inner : substituteTokens(inner, registrationId);
    }
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// Zod issues → problems with fixes.

function problemsFromIssue(issue: z.core.$ZodIssue): ConfigProblem[] {
  const path = issue.path.map(String).join(".") || "(file)";
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => {
      const full = path === "(file)" ? key : `${path}.${key}`;
      const known = Object.keys(objectShape(schemaAt(issue.path)) ?? {});
      const suggestion = closest(key, known);
      return {
        path: full,
        message: "is not a known key.",
        fix:
          suggestion === undefined
            ? `remove it (known keys here: ${known.join(", ")}), or prefix it with "_" to keep it as a comment.`
            : `did you mean "${suggestion}"? Rename it, or prefix it with "_" to keep it as a comment.`,
      };
    });
  }
  const last = String(issue.path.at(-1) ?? "").toLowerCase();
  const secret = SECRET_KEYS.has(last);
  const message = issue.message.endsWith(".") ? issue.message : `${issue.message}.`;
  return [
    {
      path,
      message: secret ? message.replace(/"[^"]*"/g, "(value hidden)") : message,
      fix: FIXES[path] ?? "see the configuration keys table in apps/sorter/README.md.",
    },
  ];
}

function schemaAt(path: readonly PropertyKey[]): unknown {
  let schema: unknown = rawConfigSchema;
  for (const segment of path) schema = objectShape(schema)?.[String(segment)];
  return schema;
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(key.length / 3))
    ? best.candidate
    : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

const FIXES: Record<string, string> = {
  "IoTHub.DpsProvisioning.AttestationMethod":
    'use "SymmetricKey" (enrollment group key) or "X509" (onboarding certificate).',
  "IoTHub.DpsProvisioning.MqttPort": "use 8883.",
  "IoTHub.SendTelemetry": "use true or false.",
  "Hardware.ServoDriver": 'use "pca9685" for a servo HAT or "sysfs" for the Pi\'s hardware PWM on GPIO12/13.',
  "Sensor.Gain": "use 16 (the original's), or 4 if bright skittles saturate.",
  "Outbox.WhenFull": 'use "drop-oldest" (keep the newest telemetry) or "reject-new".',
  "MockMode.MockColorSequence": 'use an array such as ["Red", "Green", "Yellow"].',
};

/** The resolved configuration as shown to people: secrets replaced. */
export function redactConfig(config: SorterConfig): unknown {
  return JSON.parse(
    JSON.stringify(config, (key, value: unknown) =>
      ["groupKey", "deviceKey", "token"].includes(key) && typeof value === "string" ? "(hidden)" : value,
    ),
  ) as unknown;
}
