// The shapes the typed admin client sends and receives.
export interface SimAdminCallOptions {
  signal?: AbortSignal | undefined;
}

/** Reads that can include keys (enrollment keys, derived device keys): off unless asked for. */
export interface SecretsOption extends SimAdminCallOptions {
  includeSecrets?: boolean | undefined;
}

/** A CA certificate as the admin API shows it (IoT Hub's and DPS's shape). */
export interface CaCertificateView {
  name: string;
  etag: string;
  properties: {
    subject: string;
    expiry: string;
    thumbprint: string;
    thumbprintSha256: string;
    isVerified: boolean;
    certificate: string;
    created: string;
    updated: string;
    etag: string;
    /** Present between `generateVerificationCode` and `verifyCaCertificate`. */
    verificationCode?: string;
  };
}

/** A twin as the admin API shows it. */
export interface TwinView {
  deviceId: string;
  etag: string;
  version: number;
  tags: Record<string, unknown>;
  properties: { desired: Record<string, unknown>; reported: Record<string, unknown> };
}

/** A telemetry summary: messages per device and, with `groupBy`, per value of that property. */
export interface TelemetrySummary {
  total: number;
  devices: { deviceId: string; count: number; lastEnqueuedTime: string }[];
  groupBy?: string;
  groups: { value: string; count: number }[];
}

export interface TelemetryQuery extends SimAdminCallOptions {
  device?: string | undefined;
  /** Only messages with a larger id (for following). */
  after?: number | undefined;
  /** ISO time or epoch ms. */
  from?: string | number | undefined;
  to?: string | number | undefined;
  limit?: number | undefined;
}

export interface InvokeMethodRequest {
  methodName: string;
  payload?: unknown;
  responseTimeoutInSeconds?: number | undefined;
  connectTimeoutInSeconds?: number | undefined;
}
