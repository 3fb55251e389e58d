// The hub's identity registry as its service API manages it: create, read, update, delete devices (the same records
// DPS assignments write), with etags, generated keys and status.
import { createHash, randomBytes } from "node:crypto";
import type { Clock } from "@skittlesorter/core";
import type { AdrService } from "../adr/service.ts";
import { azureTicks, azureTimestamp } from "../azure-time.ts";
import { serviceError } from "../errors.ts";
import { isObject } from "../state/json.ts";
import type { HubDevice } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import type { HubService } from "./service.ts";

/** IoT Hub device ids: up to 128 ASCII letters, digits and `- . % _ * ? ! ( ) , : = @ $ '`. */
const DEVICE_ID = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;
/** Thumbprints as IoT Hub takes them: SHA-1 (40) or SHA-256 (64) hex digits. */
const THUMBPRINT = /^(?:[0-9A-F]{40}|[0-9A-F]{64})$/;

const invalid = (message: string) => serviceError("SIM_INVALID_REQUEST", "ArgumentInvalid", message);
const newDeviceKey = (): string => randomBytes(32).toString("base64");

/** Checks a device id from a path or body. */
export function checkDeviceId(deviceId: unknown): string {
  if (typeof deviceId !== "string" || !DEVICE_ID.test(deviceId)) {
    throw invalid(
      `The device id ${JSON.stringify(deviceId)} is invalid: use 1-128 ASCII letters, digits or - . % _ * ? ! ( ) , : = @ $ '.`,
    );
  }
  return deviceId;
}

/** The device's generation id: fixed while the identity lives, new when it is deleted and created again. */
export function generationIdOf(device: HubDevice): string {
  return azureTicks(Date.parse(device.created));
}

/** The device's etag: changes whenever its identity (status, authentication) changes. */
export function deviceEtagOf(device: HubDevice): string {
  const { status, statusReason, authentication } = device;
  const identity = JSON.stringify([generationIdOf(device), status, statusReason ?? null, authentication]);
  return createHash("sha256").update(identity).digest().subarray(0, 8).toString("base64");
}

function thumbprint(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const normalized = typeof value === "string" ? value.replaceAll(":", "").toUpperCase() : "";
  if (!THUMBPRINT.test(normalized)) {
    throw invalid(`"authentication.x509Thumbprint.${name}" must be a SHA-1 or SHA-256 thumbprint in hex.`);
  }
  return normalized;
}

function symmetricKey(value: unknown, name: string, existing: string | undefined): string {
  if (value === undefined || value === null || value === "") return existing ?? newDeviceKey();
  const bytes = typeof value === "string" ? Buffer.from(value, "base64") : Buffer.alloc(0);
  if (
    typeof value !== "string" ||
    bytes.length < 16 ||
    bytes.length > 64 ||
    bytes.toString("base64") !== value
  ) {
    throw invalid(
      `"authentication.symmetricKey.${name}" must be a base64 key of 16 to 64 bytes, or "" to have the hub generate one.`,
    );
  }
  return value;
}

/**
 * The stored authentication for a device body's `authentication`: `sas` (empty keys are generated, as IoT Hub
 * does; on update the current keys stay), `selfSigned` (thumbprints) or `certificateAuthority`.
 */
function authenticationOf(
  body: Record<string, unknown>,
  existing: HubDevice | undefined,
): HubDevice["authentication"] {
  const auth = body.authentication ?? { type: "sas" };
  if (!isObject(auth)) throw invalid('"authentication" must be an object with a "type".');
  const type = auth.type ?? "sas";
  if (type === "sas") {
    const keys = auth.symmetricKey ?? {};
    if (!isObject(keys)) throw invalid('"authentication.symmetricKey" must be an object.');
    const current = existing?.authentication.type === "sas" ? existing.authentication : undefined;
    return {
      type: "sas",
      primaryKey: symmetricKey(keys.primaryKey, "primaryKey", current?.primaryKey),
      secondaryKey: symmetricKey(keys.secondaryKey, "secondaryKey", current?.secondaryKey),
    };
  }
  if (type === "selfSigned") {
    const prints = auth.x509Thumbprint ?? {};
    if (!isObject(prints)) throw invalid('"authentication.x509Thumbprint" must be an object.');
    const primaryThumbprint = thumbprint(prints.primaryThumbprint, "primaryThumbprint");
    if (primaryThumbprint === undefined) {
      throw invalid('A "selfSigned" device needs "authentication.x509Thumbprint.primaryThumbprint".');
    }
    const secondaryThumbprint = thumbprint(prints.secondaryThumbprint, "secondaryThumbprint");
    return secondaryThumbprint === undefined
      ? { type: "selfSigned", primaryThumbprint }
      : { type: "selfSigned", primaryThumbprint, secondaryThumbprint };
  }
  if (type === "certificateAuthority") return { type: "certificateAuthority" };
  throw invalid(
    `"authentication.type" ${JSON.stringify(type)} is not supported: use "sas", "selfSigned" or "certificateAuthority".`,
  );
}

export type DeviceStatus = HubDevice["status"];

export interface DeviceRegistryOptions {
  store: Store;
  clock: Clock;
  hub: HubService;
  adr: AdrService;
}

/**
 * Device identities of the simulator's own hub(s): the one domain path for the service REST API, the admin API and
 * ADR's changes alike.
 */
export class DeviceRegistry {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #hub: HubService;
  readonly #adr: AdrService;

  constructor(options: DeviceRegistryOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#hub = options.hub;
    this.#adr = options.adr;
  }

  #now(): string {
    return azureTimestamp(this.#clock.now());
  }

  /** The status IoT Hub reports: disabled when the identity or its ADR record is (the hub refuses it either way). */
  statusOf(device: HubDevice): DeviceStatus {
    return device.status === "enabled" && this.#adr.isEnabled(device.deviceId) ? "enabled" : "disabled";
  }

  /**
   * Enables or disables a device, whoever asks (`by`: the service API, the admin API, ADR). The hub identity and its
   * ADR record change together; a disabled device is disconnected, and refused when it connects again.
   */
  setStatus(deviceId: string, status: DeviceStatus, by: string): HubDevice {
    const device = this.get(deviceId);
    if (device.status === status) {
      this.#statusApplied(device, by, false);
      return device;
    }
    const now = this.#now();
    const updated: HubDevice = { ...device, status, statusUpdated: now, updated: now };
    this.#store.putDevice(updated);
    this.#statusApplied(updated, by, true);
    return updated;
  }

  /** After the identity's status is stored: its ADR record follows, a disabled device goes, the change is recorded. */
  #statusApplied(device: HubDevice, by: string, changed: boolean): void {
    const enabled = device.status === "enabled";
    const record = this.#adr.forDeviceId(device.deviceId);
    const adrChanges = record !== undefined && (record.properties.enabled !== false) !== enabled;
    // ADR tells the hub about the change it saves; the identity already matches it, so nothing happens twice.
    if (adrChanges) this.#adr.save({ ...record, properties: { ...record.properties, enabled } }, by, record);
    if (!changed && !adrChanges) return;
    if (!enabled) this.#hub.disconnect(device.deviceId, "device disabled");
    this.#store.addEvent(this.#now(), enabled ? "hub.deviceEnabled" : "hub.deviceDisabled", device.deviceId, {
      by,
    });
  }

  /** Every device of the local hubs, by id. */
  list(): HubDevice[] {
    return this.#hub.localHubs().flatMap((hub) => this.#store.listDevices(hub.name));
  }

  /** The device; `SIM_NOT_FOUND` when the registry has none of that id. */
  get(deviceId: string): HubDevice {
    const device = this.#hub.device(deviceId);
    if (device === undefined) {
      throw serviceError(
        "SIM_NOT_FOUND",
        "DeviceNotFound",
        `Device ${deviceId} not found in the hub's registry.`,
      );
    }
    return device;
  }

  /**
   * Creates (no `If-Match`) or updates (`If-Match` `*` or the device's etag) a device from an IoT Hub device body.
   * Disabling a device closes its connection; the hub then refuses it until it is enabled again.
   */
  put(deviceId: string, body: unknown, ifMatch: string | undefined, by = "service-api"): HubDevice {
    checkDeviceId(deviceId);
    if (!isObject(body))
      throw invalid('Send the device as a JSON object: {"deviceId": "…", "authentication": {…}}.');
    if (body.deviceId !== undefined && body.deviceId !== deviceId) {
      throw invalid(
        `The body's deviceId ${JSON.stringify(body.deviceId)} differs from the path's "${deviceId}".`,
      );
    }
    const status = body.status ?? "enabled";
    if (status !== "enabled" && status !== "disabled") {
      throw invalid(`"status" must be "enabled" or "disabled", got ${JSON.stringify(status)}.`);
    }
    const statusReason = body.statusReason ?? undefined;
    if (statusReason !== undefined && (typeof statusReason !== "string" || statusReason.length > 128)) {
      throw invalid('"statusReason" must be a string of at most 128 characters.');
    }
    const existing = this.#hub.device(deviceId);
    this.#checkPrecondition(deviceId, existing, ifMatch);
    const [hub] = this.#hub.localHubs();
    if (hub === undefined)
      throw serviceError("SIM_NOT_FOUND", "IotHubNotFound", "The simulator serves no hub.");
    const now = this.#now();
    const device: HubDevice = {
      ...existing,
      hub: existing?.hub ?? hub.name,
      deviceId,
      registrationId: existing?.registrationId ?? deviceId,
      status,
      authentication: authenticationOf(body, existing),
      created: existing?.created ?? now,
      updated: now,
    };
    if (statusReason === undefined) delete device.statusReason;
    else device.statusReason = statusReason;
    const statusChanged = existing !== undefined && existing.status !== status;
    if (existing === undefined || statusChanged) device.statusUpdated = now;
    this.#store.putDevice(device);
    this.#store.addEvent(now, existing === undefined ? "hub.deviceCreated" : "hub.deviceUpdated", deviceId, {
      status,
      authentication: device.authentication.type,
    });
    if (existing !== undefined) this.#statusApplied(device, by, statusChanged);
    return device;
  }

  /**
   * Deletes the device with everything that hangs on it: its twin, its modules, their persistent MQTT sessions and
   * its cloud-to-device queue; closes its connections.
   */
  delete(deviceId: string, ifMatch: string | undefined, by = "service-api"): void {
    const device = this.get(deviceId);
    this.#checkPrecondition(deviceId, device, ifMatch ?? "*");
    this.#store.transaction(() => {
      this.#store.deleteDevice(device.hub, deviceId);
      this.#store.deleteTwin(device.hub, deviceId);
      this.#hub.modules.deleteAll(deviceId);
      this.#hub.cloudToDevice.purge(deviceId);
    });
    this.#hub.sessions.forget(deviceId);
    this.#store.addEvent(this.#now(), "hub.deviceDeleted", deviceId, { by });
    this.#hub.disconnect(deviceId, "device deleted");
  }

  #checkPrecondition(deviceId: string, existing: HubDevice | undefined, ifMatch: string | undefined): void {
    if (existing === undefined) {
      if (ifMatch !== undefined) this.get(deviceId); // an update of nothing: DeviceNotFound
      return;
    }
    if (ifMatch === undefined) {
      throw serviceError(
        "SIM_CONFLICT",
        "DeviceAlreadyExists",
        `A device with ID '${deviceId}' is already registered; to update it, send If-Match: "*" or its etag.`,
      );
    }
    if (ifMatch !== "*" && ifMatch !== deviceEtagOf(existing)) {
      throw serviceError(
        "SIM_PRECONDITION_FAILED",
        "PreconditionFailed",
        `The etag in If-Match is not device ${deviceId}'s current one; read the device again and retry.`,
      );
    }
  }
}
