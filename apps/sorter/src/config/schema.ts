import { z } from "zod";
import { HUB_CLIENTS } from "./types.ts";

// The raw schema: the original appsettings.json sections and keys, plus ours. Every key is optional here;
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
      Client: caseInsensitiveEnum(
        HUB_CLIENTS,
        'must be "azure-iot-device" (the official SDK) or "hub-mqtt" (renews the certificate through the hub)',
      ).optional(),
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

/** The object schema inside wrappers (optional, preprocess pipes), or undefined for non-objects. */
export function objectShape(schema: unknown): Record<string, unknown> | undefined {
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

/** The schema at a key path of the raw configuration. */
export function schemaAt(path: readonly PropertyKey[]): unknown {
  let schema: unknown = rawConfigSchema;
  for (const segment of path) schema = objectShape(schema)?.[String(segment)];
  return schema;
}
