import { randomUUID } from "node:crypto";
import type { Clock, Logger } from "@skittlesorter/core";
import { certificateFacts } from "@skittlesorter/csr";
import { azureTimestamp } from "../azure-time.ts";
import type { AdrDeviceRecord, AdrPolicy, HubTrust, LinkedHub } from "../state/model.ts";
import type { Store } from "../state/store.ts";

export const ADR_PROVIDER = "Microsoft.DeviceRegistry";
export const ADR_DEVICE_TYPE = "Microsoft.DeviceRegistry/namespaces/devices";
export const ADR_NAMESPACE_TYPE = "Microsoft.DeviceRegistry/namespaces";
export const ADR_CREDENTIAL_TYPE = "Microsoft.DeviceRegistry/namespaces/credentials";
export const ADR_POLICY_TYPE = "Microsoft.DeviceRegistry/namespaces/credentials/policies";
/** The ARM location the simulator reports for its resources. */
export const ADR_LOCATION = "local";
/** Who `systemData` names for changes made by the simulator itself (provisioning). */
const SIMULATOR_ACTOR = "skittle-sim";
const HUB_ENDPOINT_TYPE = "Microsoft.Devices/IoTHubs";

/** ADR device names: `^[0-9a-zA-Z][a-zA-Z0-9-]*$`, 3–63 characters. */
export const ADR_DEVICE_NAME = /^[0-9a-zA-Z][a-zA-Z0-9-]{2,62}$/;

/**
 * The ADR device name for an IoT Hub device id: the id itself when it is a valid ADR name, else the id with
 * every other character replaced by `-` (and padded/truncated to 3–63 characters). `externalDeviceId` always
 * keeps the device id.
 */
export function adrDeviceName(deviceId: string): string {
  if (ADR_DEVICE_NAME.test(deviceId)) return deviceId;
  let name = deviceId.replace(/[^a-zA-Z0-9-]/g, "-");
  if (!/^[0-9a-zA-Z]/.test(name)) name = `d${name}`;
  return name.padEnd(3, "-").slice(0, 63);
}

export interface AdrNamespaceInfo {
  name: string;
  subscriptionId: string;
  resourceGroup: string;
}

export interface AdrServiceOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  namespace: AdrNamespaceInfo;
}

/** Listener for changes that concern a hub device identity (disable, delete). */
export type AdrDeviceListener = (change: { deviceId: string; enabled: boolean; deleted: boolean }) => void;

/** ADR namespace devices, and which credential-policy CAs the simulator's hub trusts. */
export class AdrService {
  readonly namespace: AdrNamespaceInfo;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #listeners = new Set<AdrDeviceListener>();

  constructor(options: AdrServiceOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.namespace = options.namespace;
  }

  #now(): string {
    return azureTimestamp(this.#clock.now());
  }

  /** `/subscriptions/…/providers/Microsoft.DeviceRegistry/namespaces/{ns}` */
  get namespaceId(): string {
    const { subscriptionId, resourceGroup, name } = this.namespace;
    return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/${ADR_PROVIDER}/namespaces/${name}`;
  }

  policyResourceId(policy: string): string {
    return `${this.namespaceId}/credentials/default/policies/${policy}`;
  }

  deviceResourceId(name: string): string {
    return `${this.namespaceId}/devices/${name}`;
  }

  onDeviceChange(listener: AdrDeviceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  notify(change: { deviceId: string; enabled: boolean; deleted: boolean }): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#logger.warn("ADR device listener failed", { error: (error as Error).message });
      }
    }
  }

  get(name: string): AdrDeviceRecord | undefined {
    return this.#store.getAdrDevice(this.namespace.name, name);
  }

  /** The record of an IoT Hub device id (by its ADR name, checking `externalDeviceId`). */
  forDeviceId(deviceId: string): AdrDeviceRecord | undefined {
    const record = this.get(adrDeviceName(deviceId));
    return record === undefined || record.properties.externalDeviceId === deviceId ? record : undefined;
  }

  /** False only when the device's ADR record exists and is disabled. */
  isEnabled(deviceId: string): boolean {
    return this.forDeviceId(deviceId)?.properties.enabled !== false;
  }

  /** Creates or updates the ADR record of a device DPS just assigned (enabled, policy, externalDeviceId, hub endpoint). */
  recordProvisioned(input: { deviceId: string; hub: LinkedHub; credentialPolicy: string | undefined }): void {
    const name = adrDeviceName(input.deviceId);
    const existing = this.get(name);
    if (existing !== undefined && existing.properties.externalDeviceId !== input.deviceId) {
      this.#logger.warn("ADR device name taken by another device; record not updated", {
        deviceId: input.deviceId,
        name,
      });
      return;
    }
    const now = this.#now();
    const previous = existing?.properties ?? {};
    const properties: Record<string, unknown> = {
      ...previous,
      uuid: previous.uuid ?? randomUUID(),
      enabled: previous.enabled ?? true,
      externalDeviceId: input.deviceId,
      attributes: previous.attributes ?? {},
      endpoints: {
        ...(previous.endpoints as Record<string, unknown> | undefined),
        outbound: {
          assigned: { [input.hub.name]: { endpointType: HUB_ENDPOINT_TYPE, address: input.hub.hostname } },
        },
      },
      version: Number(previous.version ?? 0) + 1,
      lastTransitionTime: now,
      provisioningState: "Succeeded",
    };
    if (input.credentialPolicy !== undefined) {
      properties.policy = { resourceId: this.policyResourceId(input.credentialPolicy) };
    }
    const record: AdrDeviceRecord = {
      namespace: this.namespace.name,
      name,
      location: existing?.location ?? ADR_LOCATION,
      tags: existing?.tags ?? {},
      etag: newArmEtag(),
      properties,
      systemData: {
        createdBy: existing?.systemData.createdBy ?? SIMULATOR_ACTOR,
        createdByType: existing?.systemData.createdByType ?? "Application",
        createdAt: existing?.systemData.createdAt ?? now,
        lastModifiedBy: SIMULATOR_ACTOR,
        lastModifiedByType: "Application",
        lastModifiedAt: now,
      },
    };
    this.#store.putAdrDevice(record);
    this.#store.addEvent(now, existing === undefined ? "adr.deviceCreated" : "adr.deviceUpdated", name, {
      deviceId: input.deviceId,
      by: "provisioning",
    });
  }

  /** Writes a changed record (etag, version and systemData are renewed) and tells the hub about enablement. */
  save(record: AdrDeviceRecord, actor: string, previous: AdrDeviceRecord | undefined): AdrDeviceRecord {
    const now = this.#now();
    const saved: AdrDeviceRecord = {
      ...record,
      etag: newArmEtag(),
      properties: {
        ...record.properties,
        version: Number(previous?.properties.version ?? 0) + 1,
        provisioningState: "Succeeded",
        ...(previous?.properties.enabled !== record.properties.enabled ? { lastTransitionTime: now } : {}),
      },
      systemData: {
        createdBy: previous?.systemData.createdBy ?? actor,
        createdByType: previous?.systemData.createdByType ?? "User",
        createdAt: previous?.systemData.createdAt ?? now,
        lastModifiedBy: actor,
        lastModifiedByType: "User",
        lastModifiedAt: now,
      },
    };
    this.#store.putAdrDevice(saved);
    this.#store.addEvent(
      now,
      previous === undefined ? "adr.deviceCreated" : "adr.deviceUpdated",
      saved.name,
      {
        by: actor,
      },
    );
    const deviceId = saved.properties.externalDeviceId;
    if (typeof deviceId === "string") {
      this.notify({ deviceId, enabled: saved.properties.enabled !== false, deleted: false });
    }
    return saved;
  }

  delete(record: AdrDeviceRecord, actor: string): void {
    this.#store.deleteAdrDevice(record.namespace, record.name);
    this.#store.addEvent(this.#now(), "adr.deviceDeleted", record.name, { by: actor });
    const deviceId = record.properties.externalDeviceId;
    if (typeof deviceId === "string") this.notify({ deviceId, enabled: false, deleted: true });
  }

  // --- credential synchronization (hub trust) --------------------------------------------------

  /** The CAs the hub trusts; synchronizes once when nothing was synchronized yet. */
  trust(): HubTrust {
    return this.#store.getMeta<HubTrust>("hubTrust") ?? this.synchronize("startup");
  }

  /** Makes the hub trust the issuing CA of every current credential policy (`credentials/default/synchronize`). */
  synchronize(actor: string): HubTrust {
    const trust: HubTrust = {
      synchronizedAt: this.#now(),
      policies: this.#store.listPolicies(this.namespace.name).map((policy: AdrPolicy) => ({
        name: policy.name,
        sha256Thumbprint: certificateFacts(policy.issuingCaPem).sha256Thumbprint,
        certificatePem: policy.issuingCaPem,
      })),
    };
    this.#store.setMeta("hubTrust", trust);
    this.#store.addEvent(trust.synchronizedAt, "adr.credentialsSynchronized", this.namespace.name, {
      by: actor,
      policies: trust.policies.map((policy) => policy.name),
    });
    return trust;
  }
}

export function newArmEtag(): string {
  return `"${randomUUID()}"`;
}
