/** Data shapes kept in the store and answered by the admin API. */

/** DPS allocation policies: `geoLatency` picks the simulator's own hub when it is a candidate (it is the nearest). */
export type AllocationPolicy = "hashed" | "geoLatency" | "static" | "custom";

/** Custom allocation: the webhook DPS POSTs an allocation request to. */
export interface CustomAllocationDefinition {
  webhookUrl: string;
  apiVersion: string;
}

/** The twin a device starts with on its hub (first assignment, or a reset on reprovisioning), shaped as DPS has it. */
export interface InitialTwin {
  tags: Record<string, unknown>;
  properties: { desired: Record<string, unknown> };
}

export interface ReprovisionPolicy {
  /** Move a re-registering device to the hub the allocation now picks (default true). */
  updateHubAssignment: boolean;
  /** When it moves, report `deviceDataMigrated` (true, default) or `deviceDataReset` (false). */
  migrateDeviceData: boolean;
}

export interface SymmetricKeyAttestation {
  type: "symmetricKey";
  primaryKey: string;
  secondaryKey: string;
}

/** Group: devices whose chain reaches the named (uploaded, proof-of-possession verified) CA certificate. */
export interface GroupX509Attestation {
  type: "x509";
  /** CA reference: the name of an uploaded CA certificate (`x509.caReferences.primary` on the DPS wire). */
  caName?: string;
  secondaryCaName?: string;
  /** Signing certificates given with the group itself (PEM, primary first): trusted without proof of possession. */
  signingCertificates?: string[];
}

/** Individual: the device's own certificate, by SHA-1 or SHA-256 thumbprint (uppercase hex). */
export interface IndividualX509Attestation {
  type: "x509";
  primaryThumbprint: string;
  secondaryThumbprint?: string | undefined;
}

interface EnrollmentCommon {
  enabled: boolean;
  /** ADR credential policy that issues certificates for CSRs; absent = no certificate issuance. */
  credentialPolicy?: string;
  allocationPolicy: AllocationPolicy;
  /** Linked hub names the allocation may choose from; absent = every linked hub. */
  iotHubs?: string[];
  /** Hub name for `static` allocation. */
  staticHub?: string;
  reprovisionPolicy: ReprovisionPolicy;
  /** The webhook of `custom` allocation. */
  customAllocationDefinition?: CustomAllocationDefinition;
  /** Tags and desired properties of the device twin at first assignment (and on a reset). */
  initialTwin?: InitialTwin;
  /** `capabilities.iotEdge`. */
  iotEdge?: boolean;
  etag: string;
  createdDateTimeUtc: string;
  lastUpdatedDateTimeUtc: string;
}

export interface EnrollmentGroup extends EnrollmentCommon {
  kind: "group";
  id: string;
  attestation: SymmetricKeyAttestation | GroupX509Attestation;
}

export interface IndividualEnrollment extends EnrollmentCommon {
  kind: "individual";
  /** The registration id. */
  id: string;
  /** IoT Hub device id; defaults to the registration id. */
  deviceId?: string;
  attestation: SymmetricKeyAttestation | IndividualX509Attestation;
}

export type Enrollment = EnrollmentGroup | IndividualEnrollment;
export type EnrollmentKind = Enrollment["kind"];

export interface CaCertificate {
  name: string;
  certificatePem: string;
  subject: string;
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  notAfter: string;
  isVerified: boolean;
  /** Present between `verification-code` and `verify`. */
  verificationCode?: string;
  etag: string;
  created: string;
  updated: string;
}

export interface LinkedHub {
  name: string;
  /** `localhost:PORT` for the simulator's own hub (computed at start); any host name for extra hubs. */
  hostname: string;
  /** True for the hub this simulator serves itself. */
  local: boolean;
  allocationWeight: number;
  applyAllocationPolicy: boolean;
  created: string;
}

export type RegistrationStatus = "unassigned" | "assigning" | "assigned" | "failed" | "disabled";
export type Substatus =
  | "initialAssignment"
  | "deviceDataMigrated"
  | "deviceDataReset"
  | "reprovisionedToInitialAssignment";

export interface Registration {
  registrationId: string;
  enrollmentKind: EnrollmentKind;
  enrollmentId: string;
  attestationType: "symmetricKey" | "x509";
  deviceId?: string;
  /** Hub name (rendered as its host name in DPS answers). */
  hub?: string;
  /** Every hub this registration has been assigned to, oldest first. */
  hubHistory: string[];
  status: RegistrationStatus;
  substatus?: Substatus;
  errorCode?: number;
  errorMessage?: string;
  /** Serial number of the last certificate issued for a CSR. */
  issuedCertificateSerial?: string;
  /** The payload a custom allocation webhook returned for the device. */
  payload?: unknown;
  createdDateTimeUtc: string;
  lastUpdatedDateTimeUtc: string;
  etag: string;
  /** Number of successful registrations (first one included). */
  registrationCount: number;
}

export interface HubDevice {
  hub: string;
  deviceId: string;
  registrationId: string;
  status: "enabled" | "disabled";
  authentication:
    | { type: "certificateAuthority" }
    | { type: "selfSigned"; primaryThumbprint: string; secondaryThumbprint?: string }
    | { type: "sas"; primaryKey: string; secondaryKey: string };
  /** SHA-256 thumbprint of the last certificate issued from a CSR for this device. */
  issuedCertificateThumbprint?: string;
  /** Why the service set the status (IoT Hub `statusReason`). */
  statusReason?: string;
  /** When the status last changed; absent = since `created`. */
  statusUpdated?: string;
  created: string;
  updated: string;
}

export interface IssuedCertificate {
  serialNumber: string;
  registrationId: string;
  deviceId: string;
  policy: string;
  subject: string;
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  certificatePem: string;
  created: string;
}

export interface AuditEvent {
  id: number;
  at: string;
  kind: string;
  subject: string;
  details: Record<string, unknown>;
}

export interface AdrPolicy {
  namespace: string;
  name: string;
  validityDays: number;
  issuingCaPem: string;
  /** Absolute path of the issuing CA's private key (0600). */
  keyFile: string;
  created: string;
}

export interface AdrNamespace {
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  /** The namespace credential: its root CA. */
  rootCaPem: string;
  rootKeyFile: string;
  /** Bearer token for the ADR REST endpoint (part 2). */
  token: string;
  created: string;
}

export interface Settings {
  /** How long registrations stay `assigning` before the final answer. */
  assignmentDelayMs: number;
  /** Accept only EC P-384 CSRs, as the 2025-07-01-preview documents. */
  strictCsr: boolean;
  /** Register requests accepted per minute (0 = unlimited); more are answered 429. */
  registrationsPerMinute: number;
}

/** The stored answer of a DPS operation (what a poll returns once `readyAt` has passed). */
export interface Operation {
  operationId: string;
  registrationId: string;
  readyAt: number;
  createdAt: number;
  /** HTTP-style status of the final answer (200). */
  status: number;
  response: Record<string, unknown>;
}

// --- part 2: IoT Hub and ADR REST ---------------------------------------------------------------

/** A device-to-cloud message as stored. */
export interface StoredTelemetry {
  id: number;
  hub: string;
  deviceId: string;
  /** Epoch ms when the hub accepted it. */
  enqueuedAt: number;
  /** System properties from the topic's property bag (`$.mid` → messageId, …), plus the connection's. */
  systemProperties: Record<string, string>;
  /** Application properties from the topic's property bag, URL-decoded. */
  properties: Record<string, string>;
  body: Buffer;
}

export interface TelemetryQuery {
  deviceId?: string | undefined;
  fromMs?: number | undefined;
  toMs?: number | undefined;
  afterId?: number | undefined;
  limit?: number | undefined;
}

/** A device twin: desired and reported property documents with their versions. */
export interface Twin {
  hub: string;
  deviceId: string;
  tags: Record<string, unknown>;
  desired: Record<string, unknown>;
  desiredVersion: number;
  desiredUpdated: string;
  reported: Record<string, unknown>;
  reportedVersion: number;
  reportedUpdated: string;
  /** Incremented on every change. */
  version: number;
  etag: string;
}

/** An ADR namespace device (`Microsoft.DeviceRegistry/namespaces/devices`), without its computed ARM id. */
export interface AdrDeviceRecord {
  namespace: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  etag: string;
  /** The `properties` object as ARM answers it (provisioningState, version, … included). */
  properties: Record<string, unknown>;
  systemData: {
    createdBy: string;
    createdByType: string;
    createdAt: string;
    lastModifiedBy: string;
    lastModifiedByType: string;
    lastModifiedAt: string;
  };
}

/** The issuing CAs the simulator's hub trusts: those of the credential policies at the last synchronization. */
export interface HubTrust {
  synchronizedAt: string;
  policies: { name: string; sha256Thumbprint: string; certificatePem: string }[];
}
