/** ARM `provisioningState`; the service may add values. */
export type ProvisioningState = "Succeeded" | "Failed" | "Canceled" | "Accepted" | "Deleting" | (string & {});

/** ARM `systemData`. */
export interface ArmSystemData {
  createdBy?: string;
  createdByType?: string;
  createdAt?: string;
  lastModifiedBy?: string;
  lastModifiedByType?: string;
  lastModifiedAt?: string;
}

/** Fields every ARM resource answer carries. */
export interface ArmResource {
  /** Full ARM resource id, `/subscriptions/…/providers/Microsoft.DeviceRegistry/…`. */
  id: string;
  name: string;
  type: string;
  location?: string;
  tags?: Record<string, string>;
  systemData?: ArmSystemData;
}

/** An endpoint a device can connect to (`endpoints.outbound.assigned[*]`). */
export interface AdrDeviceMessagingEndpoint {
  endpointType?: string;
  address: string;
}

/** An endpoint to connect to the device (`endpoints.inbound[*]`). */
export interface AdrInboundEndpoint {
  endpointType: string;
  address: string;
  version?: string;
  authentication?: {
    method: string;
    usernamePasswordCredentials?: Record<string, unknown>;
    x509Credentials?: Record<string, unknown>;
  };
  trustSettings?: { trustList?: string };
  /** Stringified JSON for the connector. */
  additionalConfiguration?: string;
}

/** `properties.endpoints` of a device. */
export interface AdrDeviceEndpoints {
  inbound?: Record<string, AdrInboundEndpoint>;
  outbound?: {
    assigned: Record<string, AdrDeviceMessagingEndpoint>;
    unassigned?: Record<string, AdrDeviceMessagingEndpoint>;
  };
}

/** Reference to the credential policy that issues the device's certificates. */
export interface AdrDeviceCredentialPolicyRef {
  /** `/subscriptions/…/namespaces/{ns}/credentials/default/policies/{name}` */
  resourceId?: string;
}

/** `properties` of a namespace device (api-versions 2025-11-01-preview and 2026-03-01-preview). */
export interface AdrDeviceProperties {
  /** Read-only. */
  uuid?: string;
  enabled?: boolean;
  /** Set at creation, then read-only. */
  externalDeviceId?: string;
  /** Set at creation, then read-only. */
  discoveredDeviceRef?: string;
  /** Set at creation, then read-only. */
  manufacturer?: string;
  /** Set at creation, then read-only. */
  model?: string;
  /** Set at creation, then read-only. */
  operatingSystem?: string;
  operatingSystemVersion?: string;
  endpoints?: AdrDeviceEndpoints;
  /** Free-form custom attributes. */
  attributes?: Record<string, unknown>;
  /** Read-only. */
  status?: Record<string, unknown>;
  /** Read-only; incremented on every change. */
  version?: number;
  /** Read-only. */
  lastTransitionTime?: string;
  /** Read-only. */
  provisioningState?: ProvisioningState;
  policy?: AdrDeviceCredentialPolicyRef;
}

/** A device resource, `Microsoft.DeviceRegistry/namespaces/devices`. */
export interface AdrDevice extends ArmResource {
  /** Read-only. */
  etag?: string;
  extendedLocation?: { type: string; name: string };
  properties?: AdrDeviceProperties;
}

/**
 * What `updateDevice` may change: exactly the fields ARM accepts in a device PATCH. Everything else on a device is
 * read-only or fixed at creation. Fields left out stay as they are; `tags`, when given, is sent as the whole tag set.
 */
export interface AdrDevicePatch {
  enabled?: boolean;
  operatingSystemVersion?: string;
  endpoints?: AdrDeviceEndpoints;
  attributes?: Readonly<Record<string, unknown>>;
  policy?: AdrDeviceCredentialPolicyRef;
  tags?: Readonly<Record<string, string>>;
}

/** `properties.certificate` of a credential policy. */
export interface AdrCertificateConfiguration {
  certificateAuthorityConfiguration?: {
    /** `ECC`; set at creation. */
    keyType?: string;
    /** Read-only, e.g. `CN=07b5d73a…`. */
    subject?: string;
    validityNotBefore?: string;
    validityNotAfter?: string;
  };
  leafCertificateConfiguration?: {
    /** 7–90. */
    validityPeriodInDays?: number;
  };
}

/** A credential policy, `Microsoft.DeviceRegistry/namespaces/credentials/policies`. */
export interface AdrCredentialPolicy extends ArmResource {
  properties?: {
    certificate?: AdrCertificateConfiguration;
    provisioningState?: ProvisioningState;
  };
}
