import * as v from "valibot";
import { HUB_CLIENTS } from "./types.ts";

// The raw schema: the original appsettings.json sections and keys, plus ours. Every key is optional here;
// required keys and cross-key rules are checked afterwards, with fixes that name the key.

/** Numbers may come as strings (environment overrides). */
function fromNumericText(value: unknown): unknown {
  return typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))
    ? Number(value)
    : value;
}
const isFiniteNumber = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);
const num = v.pipe(
  v.unknown(),
  v.transform(fromNumericText),
  v.custom<number>(isFiniteNumber, "must be a number"),
);
// A fraction fails like a wrong type (so a union moves on to its other options); an unsafe integer fails like a range.
const int = v.pipe(
  v.unknown(),
  v.transform(fromNumericText),
  v.custom<number>((value) => isFiniteNumber(value) && Number.isInteger(value), "must be a whole number"),
  v.safeInteger("must be a whole number"),
);
const bool = v.pipe(
  v.unknown(),
  v.transform((value) => {
    if (typeof value !== "string") return value;
    if (/^(true|1|yes|on)$/i.test(value)) return true;
    if (/^(false|0|no|off)$/i.test(value)) return false;
    return value;
  }),
  v.boolean("must be true or false"),
);
const str = v.string("must be a string");
/** JSON arrays/objects may come as JSON text (environment overrides). */
const json = <T extends v.GenericSchema>(schema: T) =>
  v.pipe(
    v.unknown(),
    v.transform((value) => {
      if (typeof value === "string" && /^\s*[[{]/.test(value)) {
        try {
          return JSON.parse(value) as unknown;
        } catch {
          return value;
        }
      }
      return value;
    }),
    schema,
  );
const angle = v.pipe(num, v.minValue(0, "must be 0° or more"), v.maxValue(360, "must be 360° or less"));
const caseInsensitiveEnum = <const T extends readonly [string, ...string[]]>(values: T, message: string) =>
  v.pipe(
    v.unknown(),
    v.transform((value) =>
      typeof value === "string"
        ? (values.find((known) => known.toLowerCase() === value.toLowerCase()) ?? value)
        : value,
    ),
    v.picklist(values, message),
  );

/** Type names as the messages say them: "array" and "null" rather than "object". */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value;
}
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
/** valibot's objects and records take arrays too: refuse them first. */
const objectValue = (expected: "object" | "record") =>
  v.custom<Record<string, unknown>>(
    isObject,
    (issue) => `Invalid input: expected ${expected}, received ${typeName(issue.input)}`,
  );
type AllOptional<T extends v.ObjectEntries> = { [K in keyof T]: v.OptionalSchema<T[K], undefined> };
function allOptional<const T extends v.ObjectEntries>(entries: T): AllOptional<T> {
  return Object.fromEntries(
    Object.entries(entries).map(([key, schema]) => [key, v.optional(schema)]),
  ) as AllOptional<T>;
}
/** An optional section: an object with only these keys, each optional. */
const section = <const T extends v.ObjectEntries>(entries: T) =>
  v.optional(v.pipe(objectValue("object"), v.strictObject(allOptional(entries))));
/**
 * A map of names to values. Not through v.record, which skips "constructor" and "prototype" keys: here they are plain
 * data (an ADR attribute may be called that). "__proto__" is left out, as JSON.parse makes it an own key.
 */
const record = <T extends v.GenericSchema<unknown, unknown>>(value: T) =>
  v.pipe(
    objectValue("record"),
    v.transform((object) => new Map(Object.entries(object).filter(([key]) => key !== "__proto__"))),
    v.map(v.string(), value),
    v.transform((entries) => Object.fromEntries(entries)),
  );

const servoSchema = section({
  Channel: int,
  MinPulseUs: num,
  MaxPulseUs: num,
  RangeDeg: num,
  SecondsPer60Deg: num,
  SettleMs: num,
});

const attributeValue = v.union(
  [v.string(), v.custom<number>(isFiniteNumber), v.boolean(), v.null()],
  "attribute values must be strings, numbers, booleans or null",
);

export const rawConfigSchema = v.strictObject(
  allOptional({
    DataDir: str,
    MockMode: section({
      EnableMockColorSensor: bool,
      EnableMockServos: bool,
      MockColorSequence: json(v.array(str, "must be an array of colour names")),
    }),
    ServoPositions: section({
      PickAngle: angle,
      DetectAngle: angle,
      DropAngle: angle,
      ParkAngle: angle,
    }),
    ChutePositions: section({
      Red: angle,
      Green: angle,
      Purple: angle,
      Yellow: angle,
      Orange: angle,
      Default: angle,
      Reject: angle,
    }),
    Hardware: section({
      I2cBus: int,
      ServoDriver: caseInsensitiveEnum(["pca9685", "sysfs"], 'must be "pca9685" or "sysfs"'),
      Pca9685Address: int,
      PwmChip: v.union(
        [int, str],
        'must be a chip number (pwmchipN), a /sys/class/pwm/pwmchipN path or a PWM controller such as "1f00098000.pwm"',
      ),
      Pca9685OscillatorHz: num,
      FrequencyHz: num,
      PickServo: servoSchema,
      ChuteServo: servoSchema,
      TravelMarginPercent: num,
    }),
    Sensor: section({
      Address: int,
      IntegrationTimeMs: num,
      AutoRange: bool,
      Gain: v.pipe(
        num,
        v.check((gain) => [1, 4, 16, 60].includes(gain), "must be 1, 4, 16 or 60"),
      ),
      ReadsPerSkittle: int,
      CalibrationFile: str,
      EmptyPicksBeforeIdle: int,
      IdleMs: num,
    }),
    EmulatedRig: section({
      Enabled: bool,
      Skittles: int,
      Seed: int,
      ServoSecondsPer60Deg: num,
      SensorFieldOfViewDeg: num,
      TimeScale: num,
    }),
    IoTHub: section({
      DeviceConnectionString: str,
      DeviceId: str,
      SendTelemetry: bool,
      Client: caseInsensitiveEnum(
        HUB_CLIENTS,
        'must be "azure-iot-device" (the official SDK) or "hub-mqtt" (renews the certificate through the hub)',
      ),
      TwinReportIntervalMs: num,
      DpsProvisioning: section({
        ProvisioningHost: str,
        IdScope: str,
        RegistrationId: str,
        AttestationMethod: caseInsensitiveEnum(["SymmetricKey", "X509"], 'must be "SymmetricKey" or "X509"'),
        EnrollmentGroupKeyBase64: str,
        DeviceKeyBase64: str,
        AttestationCertPath: str,
        AttestationKeyPath: str,
        AttestationCertChainPath: str,
        CsrFilePath: str,
        CsrKeyFilePath: str,
        IssuedCertFilePath: str,
        ApiVersion: str,
        SasExpirySeconds: int,
        AutoGenerateCsr: bool,
        MqttPort: int,
        Transport: caseInsensitiveEnum(["mqtts", "wss"], 'must be "mqtts" or "wss"'),
        TimeoutMs: num,
        EnableDebugLogging: bool,
      }),
    }),
    Certificates: section({
      KeyType: str,
      RenewalWindowDays: num,
      TrustedCaFile: str,
    }),
    Outbox: section({
      MaxMessages: int,
      WhenFull: caseInsensitiveEnum(["drop-oldest", "reject-new"], 'must be "drop-oldest" or "reject-new"'),
      FlushTimeoutMs: num,
    }),
    Adr: section({
      Enabled: bool,
      SubscriptionId: str,
      ResourceGroupName: str,
      NamespaceName: str,
      BaseUrl: str,
      Token: str,
      DeviceUpdate: section({
        Enabled: bool,
        Attributes: json(record(attributeValue)),
        Tags: json(record(v.string("tag values must be strings"))),
        DeviceEnabled: bool,
        OperatingSystemVersion: str,
      }),
    }),
  }),
);

export type RawConfig = v.InferOutput<typeof rawConfigSchema>;

/** The keys of an object schema inside wrappers (optional, pipes), or undefined for non-objects. */
export function objectShape(schema: unknown): v.ObjectEntries | undefined {
  let current = schema as Inspectable | undefined;
  for (let depth = 0; depth < 8 && current !== undefined; depth += 1) {
    if (current.type === "strict_object") return current.entries;
    // A pipe's output is that of its last schema; an optional's is that of the schema it wraps.
    current =
      current.type === "optional"
        ? current.wrapped
        : current.pipe?.findLast((item) => item.kind === "schema");
  }
  return undefined;
}
type Inspectable = {
  kind?: string;
  type?: string;
  entries?: v.ObjectEntries;
  wrapped?: Inspectable;
  pipe?: readonly Inspectable[];
};

/** The schema at a key path of the raw configuration. */
export function schemaAt(path: readonly PropertyKey[]): unknown {
  let schema: unknown = rawConfigSchema;
  for (const segment of path) schema = objectShape(schema)?.[String(segment)];
  return schema;
}
