import type { KeyType } from "@skittlesorter/csr";

// The resolved configuration the app runs with, one section per part of the app.

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
  | { kind: "symmetricKey"; groupKey?: string | undefined; deviceKey?: string | undefined }
  | { kind: "x509"; certPath: string; keyPath: string; chainPath?: string | undefined };

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

/** The pick servo's arm positions, in degrees. */
export interface SorterPositions {
  pick: number;
  detect: number;
  drop: number;
  /** Where the arm rests when parked (stop, `home`). */
  park: number;
}

export type ChutePositions = Record<SkittleColorName, number> & { default: number; reject: number };

export interface HardwareSettings {
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
}

export interface SensorSettings {
  address: number;
  integrationTimeMs: number;
  gain: 1 | 4 | 16 | 60;
  /** Gain/integration auto-ranging; readings are normalised to `integrationTimeMs` and `gain`. */
  autoRange: boolean;
  readsPerSkittle: number;
  calibrationFile: string | undefined;
  emptyPicksBeforeIdle: number;
  idleMs: number;
}

export interface RigSettings {
  skittles: number;
  seed: number;
  /** Colour sequence (cycled); undefined: random colours from the seed. */
  sequence: string[] | undefined;
  servoSecondsPer60Deg: number | undefined;
  sensorFieldOfViewDeg: number;
  /** 0: virtual time, as fast as possible; 1: real time; 0.1: ten times faster than real. */
  timeScale: number;
}

/** The IoT Hub device client: the official SDK, or our mqtt.js client that can renew through the hub. */
export const HUB_CLIENTS = ["azure-iot-device", "hub-mqtt"] as const;
export type HubClientName = (typeof HUB_CLIENTS)[number];

export interface TelemetrySettings {
  enabled: boolean;
  /** `IoTHub.Client`; `hub-mqtt` renews the certificate through the hub first, DPS as the fallback. */
  client: HubClientName;
  configuredDeviceId: string | undefined;
  twinReportIntervalMs: number;
}

export interface CredentialSettings {
  keyType: KeyType;
  renewalWindowMs: number;
  trustedCaFile: string | undefined;
  keyFile: string;
  chainFile: string;
  csrFile: string;
  metadataFile: string;
}

export interface OutboxSettings {
  file: string;
  maxMessages: number;
  whenFull: "drop-oldest" | "reject-new";
  flushTimeoutMs: number;
}

export interface AdrDeviceUpdateSettings {
  attributes: Record<string, string | number | boolean | null>;
  tags: Record<string, string>;
  enabled: boolean;
  operatingSystemVersion: string | undefined;
}

export interface AdrSettings {
  subscriptionId: string;
  resourceGroup: string;
  namespace: string;
  baseUrl: string | undefined;
  token: string | undefined;
  deviceUpdate: AdrDeviceUpdateSettings | undefined;
}

export interface SorterConfig {
  /** The configuration file, absolute (undefined when built in memory). */
  file: string | undefined;
  /** Relative paths in the file resolve against this directory. */
  configDir: string;
  dataDir: string;
  emulated: boolean;
  positions: SorterPositions;
  chutes: ChutePositions;
  hardware: HardwareSettings;
  sensor: SensorSettings;
  rig: RigSettings;
  telemetry: TelemetrySettings;
  /** Present when telemetry is enabled. */
  dps: DpsSettings | undefined;
  credentials: CredentialSettings;
  outbox: OutboxSettings;
  adr: AdrSettings | undefined;
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

export interface ResolveConfigOptions extends LoadConfigOptions {
  /** Where the configuration came from; relative paths resolve against its directory. */
  file?: string | undefined;
  /** When there is no file: the directory relative paths resolve against. Default: the working directory. */
  configDir?: string | undefined;
}
