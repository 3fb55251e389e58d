// IoT Hub module identities: `{deviceId}/{moduleId}`, each with its own credentials (SAS keys or X.509) and twin.
import { randomBytes, randomUUID } from "node:crypto";
import type { Clock } from "@skittlesorter/core";
import { mergePatch } from "@skittlesorter/core";
import { azureTicks, azureTimestamp } from "../azure-time.ts";
import { serviceError } from "../errors.ts";
import { isObject } from "../state/json.ts";
import type { HubDevice, Twin } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import type { HubLink } from "./service.ts";
import { checkTwinPatch, emptyTwin, patchedTwin } from "./twins.ts";

export type ModuleAuthentication = HubDevice["authentication"];

export interface HubModule {
  hub: string;
  deviceId: string;
  moduleId: string;
  managedBy: string;
  authentication: ModuleAuthentication;
  generationId: string;
  etag: string;
  created: string;
  updated: string;
}

export type ModuleTwin = Twin & { moduleId: string };

/** What a create or update may send: IoT Hub's REST shape of `authentication`, and `managedBy`. */
export interface ModuleInput {
  authentication?: unknown;
  managedBy?: unknown;
}

/** The connection key of a module: its MQTT client id. */
export function moduleKey(deviceId: string, moduleId: string): string {
  return `${deviceId}/${moduleId}`;
}

const MODULE_ID = /^[A-Za-z0-9\-:.+%_#*?!(),=@;$']{1,128}$/;

const invalid = (message: string) => serviceError("SIM_INVALID_REQUEST", "ArgumentInvalid", message);

function newKey(): string {
  return randomBytes(32).toString("base64");
}

/** IoT Hub's `authentication` (REST shape) as stored; empty or missing keys are generated, as IoT Hub does. */
export function authenticationFrom(value: unknown, previous?: ModuleAuthentication): ModuleAuthentication {
  if (value === undefined || value === null)
    return { type: "sas", primaryKey: newKey(), secondaryKey: newKey() };
  if (!isObject(value)) throw invalid('"authentication" must be an object like {"type": "sas"}.');
  const thumbprints = isObject(value.x509Thumbprint) ? value.x509Thumbprint : {};
  const type = value.type ?? (typeof thumbprints.primaryThumbprint === "string" ? "selfSigned" : "sas");
  if (type === "sas") {
    const keys = isObject(value.symmetricKey) ? value.symmetricKey : {};
    const key = (given: unknown, kept: string | undefined): string => {
      if (typeof given === "string" && given !== "") {
        if (Buffer.from(given, "base64").length < 16) {
          throw invalid('Symmetric keys must be base64 of 16 to 64 bytes; send "" to have one generated.');
        }
        return given;
      }
      return kept ?? newKey();
    };
    const kept = previous?.type === "sas" ? previous : undefined;
    return {
      type: "sas",
      primaryKey: key(keys.primaryKey, kept?.primaryKey),
      secondaryKey: key(keys.secondaryKey, kept?.secondaryKey),
    };
  }
  if (type === "selfSigned") {
    const normal = (given: unknown): string | undefined =>
      typeof given === "string" && given !== "" ? given.replaceAll(":", "").toUpperCase() : undefined;
    const primary = normal(thumbprints.primaryThumbprint);
    const secondary = normal(thumbprints.secondaryThumbprint);
    if (primary === undefined || !/^([0-9A-F]{40}|[0-9A-F]{64})$/.test(primary)) {
      throw invalid(
        '"x509Thumbprint.primaryThumbprint" must be a SHA-1 or SHA-256 certificate thumbprint (hex).',
      );
    }
    return {
      type: "selfSigned",
      primaryThumbprint: primary,
      ...(secondary === undefined ? {} : { secondaryThumbprint: secondary }),
    };
  }
  if (type === "certificateAuthority") return { type: "certificateAuthority" };
  throw invalid(
    `Authentication type ${JSON.stringify(type)} is not supported; use sas, selfSigned or certificateAuthority.`,
  );
}

/** Module identities and module twins of the local hub. */
export class ModuleRegistry {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #device: (deviceId: string) => HubDevice | undefined;
  readonly #link: (key: string) => HubLink | undefined;
  readonly #forgetSession: (clientId: string) => void;
  readonly #changed: (event: {
    deviceId: string;
    moduleId: string;
    hub: string;
    part: string;
    version: number;
  }) => void;

  constructor(options: {
    store: Store;
    clock: Clock;
    device: (deviceId: string) => HubDevice | undefined;
    link: (key: string) => HubLink | undefined;
    /** Forgets the persistent MQTT session of a deleted module. */
    forgetSession: (clientId: string) => void;
    twinChanged: (event: {
      deviceId: string;
      moduleId: string;
      hub: string;
      part: string;
      version: number;
    }) => void;
  }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#device = options.device;
    this.#link = options.link;
    this.#forgetSession = options.forgetSession;
    this.#changed = options.twinChanged;
  }

  #now(): string {
    return azureTimestamp(this.#clock.now());
  }

  #requireDevice(deviceId: string): HubDevice {
    const device = this.#device(deviceId);
    if (device === undefined) {
      throw serviceError(
        "SIM_NOT_FOUND",
        "DeviceNotFound",
        `Device "${deviceId}" is not in the hub's registry.`,
      );
    }
    return device;
  }

  get(deviceId: string, moduleId: string): HubModule | undefined {
    const row = this.#store
      .prepare("SELECT doc FROM modules WHERE device_id = ? AND module_id = ?")
      .get(deviceId, moduleId) as { doc: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.doc) as HubModule);
  }

  require(deviceId: string, moduleId: string): HubModule {
    this.#requireDevice(deviceId);
    const found = this.get(deviceId, moduleId);
    if (found === undefined) {
      throw serviceError(
        "SIM_NOT_FOUND",
        "ModuleNotFound",
        `Module "${moduleId}" does not exist on device "${deviceId}"; create it with PUT /devices/${deviceId}/modules/${moduleId}.`,
      );
    }
    return found;
  }

  list(deviceId: string): HubModule[] {
    this.#requireDevice(deviceId);
    const rows = this.#store
      .prepare("SELECT doc FROM modules WHERE device_id = ? ORDER BY module_id")
      .all(deviceId) as { doc: string }[];
    return rows.map((row) => JSON.parse(row.doc) as HubModule);
  }

  /**
   * Creates (no `ifMatch`) or updates (`ifMatch` "*" or the module's etag) a module identity. A create of an
   * existing module is a conflict, as in IoT Hub.
   */
  put(
    deviceId: string,
    moduleId: string,
    input: ModuleInput,
    ifMatch?: string,
  ): { module: HubModule; created: boolean } {
    const device = this.#requireDevice(deviceId);
    if (!MODULE_ID.test(moduleId)) {
      throw invalid(
        `Module id "${moduleId.slice(0, 140)}" must be 1-128 letters, digits or - : . + % _ # * ? ! ( ) , = @ ; $ '.`,
      );
    }
    if (input.managedBy !== undefined && input.managedBy !== null && typeof input.managedBy !== "string") {
      throw invalid('"managedBy" must be a string.');
    }
    const existing = this.get(deviceId, moduleId);
    const now = this.#now();
    if (existing !== undefined) {
      if (ifMatch === undefined) {
        throw serviceError(
          "SIM_CONFLICT",
          "ModuleAlreadyExistsOnDevice",
          `Module "${moduleId}" already exists on device "${deviceId}"; update it with If-Match.`,
        );
      }
      this.#checkEtag(ifMatch, existing.etag, `module "${moduleId}"`);
    }
    const module: HubModule = {
      hub: device.hub,
      deviceId,
      moduleId,
      managedBy: typeof input.managedBy === "string" ? input.managedBy : (existing?.managedBy ?? ""),
      authentication: authenticationFrom(input.authentication, existing?.authentication),
      generationId: existing?.generationId ?? azureTicks(this.#clock.now()),
      etag: randomUUID(),
      created: existing?.created ?? now,
      updated: now,
    };
    this.#store
      .prepare(
        "INSERT INTO modules (hub, device_id, module_id, doc) VALUES (?, ?, ?, ?) " +
          "ON CONFLICT (hub, device_id, module_id) DO UPDATE SET doc = excluded.doc",
      )
      .run(module.hub, deviceId, moduleId, JSON.stringify(module));
    if (existing === undefined) this.#putTwin(emptyTwin({ hub: module.hub, deviceId, moduleId }, now));
    this.#store.addEvent(
      now,
      existing === undefined ? "hub.moduleCreated" : "hub.moduleUpdated",
      moduleKey(deviceId, moduleId),
      {
        authentication: module.authentication.type,
      },
    );
    if (existing !== undefined && existing.authentication.type !== module.authentication.type) {
      this.#link(moduleKey(deviceId, moduleId))?.close("module credentials changed");
    }
    return { module, created: existing === undefined };
  }

  delete(deviceId: string, moduleId: string, ifMatch?: string): void {
    const existing = this.require(deviceId, moduleId);
    if (ifMatch !== undefined) this.#checkEtag(ifMatch, existing.etag, `module "${moduleId}"`);
    this.#store.prepare("DELETE FROM modules WHERE device_id = ? AND module_id = ?").run(deviceId, moduleId);
    this.#store.addEvent(this.#now(), "hub.moduleDeleted", moduleKey(deviceId, moduleId));
    this.#gone(deviceId, moduleId, "module deleted");
  }

  /** Deletes every module of a device that is being deleted (no events: the device's deletion records it). */
  deleteAll(deviceId: string): void {
    const rows = this.#store
      .prepare("DELETE FROM modules WHERE device_id = ? RETURNING module_id")
      .all(deviceId) as { module_id: string }[];
    for (const row of rows) this.#gone(deviceId, row.module_id, "device deleted");
  }

  #gone(deviceId: string, moduleId: string, reason: string): void {
    const key = moduleKey(deviceId, moduleId);
    this.#link(key)?.close(reason);
    this.#forgetSession(key);
  }

  #checkEtag(ifMatch: string, etag: string, what: string): void {
    const given = ifMatch.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
    if (given !== "*" && given !== etag) {
      throw serviceError(
        "SIM_PRECONDITION_FAILED",
        "PreconditionFailed",
        `The etag of ${what} changed; read it again and retry with its current etag.`,
      );
    }
  }

  twin(deviceId: string, moduleId: string): ModuleTwin {
    const module = this.require(deviceId, moduleId);
    const row = this.#store
      .prepare("SELECT twin FROM modules WHERE device_id = ? AND module_id = ?")
      .get(deviceId, moduleId) as { twin: string | null } | undefined;
    if (row?.twin != null) return JSON.parse(row.twin) as ModuleTwin;
    return emptyTwin({ hub: module.hub, deviceId, moduleId }, this.#now());
  }

  #putTwin(twin: ModuleTwin): void {
    this.#store
      .prepare("UPDATE modules SET twin = ? WHERE device_id = ? AND module_id = ?")
      .run(JSON.stringify(twin), twin.deviceId, twin.moduleId);
  }

  /** The module's own reported-properties patch (over MQTT). */
  patchReported(deviceId: string, moduleId: string, patch: Record<string, unknown>): ModuleTwin {
    const twin = patchedTwin(this.twin(deviceId, moduleId), "reported", patch, this.#now());
    this.#putTwin(twin);
    this.#changed({ deviceId, moduleId, hub: twin.hub, part: "reported", version: twin.reportedVersion });
    return twin;
  }

  /** Service side: patches tags and desired properties, and pushes the desired patch to the connected module. */
  patchTwin(
    deviceId: string,
    moduleId: string,
    patch: { desired?: unknown; tags?: unknown },
    ifMatch?: string,
  ): ModuleTwin {
    let twin = this.twin(deviceId, moduleId);
    if (ifMatch !== undefined) this.#checkEtag(ifMatch, twin.etag, `the twin of module "${moduleId}"`);
    const desired =
      patch.desired === undefined ? undefined : checkTwinPatch(patch.desired, "desired properties");
    if (patch.tags !== undefined) {
      const tags = mergePatch(twin.tags, checkTwinPatch(patch.tags, "tags"));
      twin = { ...twin, tags, version: twin.version + 1, etag: randomUUID() };
    }
    if (desired !== undefined) twin = patchedTwin(twin, "desired", desired, this.#now());
    this.#putTwin(twin);
    if (desired !== undefined) {
      this.#changed({ deviceId, moduleId, hub: twin.hub, part: "desired", version: twin.desiredVersion });
      this.#link(moduleKey(deviceId, moduleId))?.send(
        "desiredUpdates",
        `$iothub/twin/PATCH/properties/desired/?$version=${twin.desiredVersion}`,
        Buffer.from(JSON.stringify({ ...desired, $version: twin.desiredVersion })),
      );
    }
    return twin;
  }
}
