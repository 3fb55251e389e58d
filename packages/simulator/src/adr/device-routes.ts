// ADR REST devices: list (paged), get, PUT, PATCH and DELETE, with ARM etags and long-running operations.
import { randomUUID } from "node:crypto";
import { mergePatch } from "@skittlesorter/core";
import { HttpError, type RouteRequest } from "../net/http.ts";
import type { SimContext } from "../state/context.ts";
import { isObject } from "../state/json.ts";
import type { AdrDeviceRecord } from "../state/model.ts";
import { type AdrScope, apiVersionOf, bad } from "./arm.ts";
import { ADR_DEVICE_NAME, ADR_DEVICE_TYPE, ADR_LOCATION, type AdrService, newArmEtag } from "./service.ts";

/** Properties a device PATCH may carry (ARM `ArmCustomPatchAsync` of the 2025-11-01-preview spec). */
const UPDATABLE = new Set(["enabled", "operatingSystemVersion", "endpoints", "attributes", "policy"]);

/** Read-only, or settable only at creation. */
const NOT_UPDATABLE = new Set([
  "uuid",
  "externalDeviceId",
  "discoveredDeviceRef",
  "manufacturer",
  "model",
  "operatingSystem",
  "status",
  "version",
  "lastTransitionTime",
  "provisioningState",
]);

/** What a PUT may set (the rest is read-only and ignored, as ARM does). */
const CREATABLE = new Set([
  ...UPDATABLE,
  "externalDeviceId",
  "discoveredDeviceRef",
  "manufacturer",
  "model",
  "operatingSystem",
]);

const ENVELOPE_READ_ONLY = new Set([
  "id",
  "name",
  "type",
  "etag",
  "systemData",
  "location",
  "extendedLocation",
]);

/** What the device routes share: the ARM view of a device, its 404, the actor of a change, `If-Match`. */
export function deviceHelpers(adr: AdrService, namespace: AdrService["namespace"]) {
  const deviceView = (record: AdrDeviceRecord): Record<string, unknown> => ({
    id: adr.deviceResourceId(record.name),
    name: record.name,
    type: ADR_DEVICE_TYPE,
    location: record.location,
    tags: record.tags,
    etag: record.etag,
    systemData: record.systemData,
    properties: record.properties,
  });
  const notFound = (name: string): HttpError =>
    new HttpError(
      404,
      "ResourceNotFound",
      `The Resource '${ADR_DEVICE_TYPE}/${namespace.name}/${name}' under resource group '${namespace.resourceGroup}' was not found. ` +
        "List the namespace's devices to check the name.",
    );
  const actor = (request: RouteRequest): string => {
    const agent = request.headers["user-agent"];
    return typeof agent === "string" && agent !== ""
      ? (agent.split(" ")[0]?.slice(0, 100) ?? "adr-rest")
      : "adr-rest";
  };
  const checkIfMatch = (request: RouteRequest, record: AdrDeviceRecord | undefined): void => {
    const header = request.headers["if-match"];
    if (typeof header !== "string" || header === "*") return;
    if (record === undefined || header !== record.etag) {
      throw new HttpError(
        412,
        "PreconditionFailed",
        "The If-Match etag does not match the device's current etag; read the device again and retry.",
      );
    }
  };
  return { deviceView, notFound, actor, checkIfMatch };
}

/** Device list (paged with `nextLink`) and get. */
export function deviceReadRoutes(scope: AdrScope): void {
  const { router, options, adr, store, namespace, arm, base, requestOrigin, deviceView, notFound } = scope;
  router.add(
    "GET",
    `${base}/devices`,
    arm((request) => {
      const topText = request.query.get("$top");
      let limit = options.pageSize;
      if (topText !== null) {
        limit = Number(topText);
        if (!/^\d+$/.test(topText) || limit < 1 || limit > 1000) {
          throw bad("InvalidParameter", `$top must be a whole number from 1 to 1000, got '${topText}'.`);
        }
      }
      const skipToken = request.query.get("$skipToken");
      let afterName: string | undefined;
      if (skipToken !== null) {
        afterName = Buffer.from(skipToken, "base64url").toString("utf8");
        if (!ADR_DEVICE_NAME.test(afterName)) {
          throw bad(
            "InvalidSkipToken",
            "The $skipToken is not one this service returned; start the listing again.",
          );
        }
      }
      const page = store.listAdrDevices(namespace.name, {
        afterName,
        limit: limit + 1,
      });
      const items = page.slice(0, limit);
      const body: Record<string, unknown> = { value: items.map(deviceView) };
      const last = items[items.length - 1];
      if (page.length > limit && last !== undefined) {
        const next = new URLSearchParams({
          "api-version": apiVersionOf(request),
          $skipToken: Buffer.from(last.name).toString("base64url"),
        });
        if (topText !== null) next.set("$top", String(limit));
        body.nextLink = `${requestOrigin(request)}${request.path}?${next.toString()}`;
      }
      return { body };
    }),
  );

  router.add(
    "GET",
    `${base}/devices/:name`,
    arm((request) => {
      const record = adr.get(request.params.name ?? "");
      if (record === undefined) throw notFound(request.params.name ?? "");
      return { body: deviceView(record), headers: { etag: record.etag } };
    }),
  );
}

/** Device create or replace. */
export function devicePutRoute(scope: AdrScope): void {
  const { router, adr, store, namespace, arm, base, deviceView, actor, checkIfMatch } = scope;
  router.add(
    "PUT",
    `${base}/devices/:name`,
    arm((request) => {
      const name = request.params.name ?? "";
      if (!ADR_DEVICE_NAME.test(name)) {
        throw bad(
          "InvalidResourceName",
          `Device name '${name}' is invalid: use 3-63 letters, digits and '-', starting with a letter or digit.`,
        );
      }
      if (!isObject(request.body))
        throw bad("InvalidRequestContent", "The request body must be a JSON object.");
      const existing = adr.get(name);
      checkIfMatch(request, existing);
      if (existing !== undefined && request.headers["if-none-match"] === "*") {
        throw new HttpError(412, "PreconditionFailed", `Device '${name}' already exists.`);
      }
      const body = request.body;
      const properties = body.properties === undefined ? {} : body.properties;
      if (!isObject(properties)) throw bad("InvalidRequestContent", "'properties' must be a JSON object.");
      const given: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(properties)) {
        if (CREATABLE.has(key) && value !== null) given[key] = value;
      }
      checkUpdatable(given, store, adr, namespace.name);
      const record: AdrDeviceRecord = {
        namespace: namespace.name,
        name,
        location: typeof body.location === "string" ? body.location : (existing?.location ?? ADR_LOCATION),
        tags: body.tags === undefined ? {} : checkTags(body.tags),
        etag: existing?.etag ?? newArmEtag(),
        properties: {
          uuid: existing?.properties.uuid ?? randomUUID(),
          enabled: true,
          attributes: {},
          ...given,
        },
        systemData: existing?.systemData ?? {
          createdBy: "",
          createdByType: "User",
          createdAt: "",
          lastModifiedBy: "",
          lastModifiedByType: "User",
          lastModifiedAt: "",
        },
      };
      const saved = adr.save(record, actor(request), existing);
      return {
        status: existing === undefined ? 201 : 200,
        body: deviceView(saved),
        headers: { etag: saved.etag },
      };
    }),
  );
}

/** Device PATCH and DELETE (long-running operations). */
export function deviceChangeRoutes(scope: AdrScope): void {
  const {
    router,
    adr,
    store,
    namespace,
    arm,
    base,
    startOperation,
    deviceView,
    notFound,
    actor,
    checkIfMatch,
  } = scope;
  router.add(
    "PATCH",
    `${base}/devices/:name`,
    arm((request) => {
      const name = request.params.name ?? "";
      const existing = adr.get(name);
      if (existing === undefined) throw notFound(name);
      checkIfMatch(request, existing);
      const body = request.body ?? {};
      if (!isObject(body)) throw bad("InvalidRequestContent", "The PATCH body must be a JSON object.");
      for (const key of Object.keys(body)) {
        if (key === "tags" || key === "properties") continue;
        throw ENVELOPE_READ_ONLY.has(key)
          ? bad(
              "PropertyChangeNotAllowed",
              `'${key}' cannot be changed with PATCH; only 'tags' and 'properties' can.`,
            )
          : bad(
              "InvalidRequestContent",
              `Unknown field '${key}' in the PATCH body; send only 'tags' and 'properties'.`,
            );
      }
      const patch = body.properties ?? {};
      if (!isObject(patch)) throw bad("InvalidRequestContent", "'properties' must be a JSON object.");
      for (const key of Object.keys(patch)) {
        if (UPDATABLE.has(key)) continue;
        throw NOT_UPDATABLE.has(key)
          ? bad(
              "PropertyChangeNotAllowed",
              `Property '${key}' is read-only or can only be set when the device is created; PATCH may change ${[...UPDATABLE].join(", ")} and tags.`,
            )
          : bad(
              "InvalidRequestContent",
              `Unknown device property '${key}'; PATCH may change ${[...UPDATABLE].join(", ")} and tags.`,
            );
      }
      checkUpdatable(patch, store, adr, namespace.name);
      const record: AdrDeviceRecord = {
        ...existing,
        tags: body.tags === undefined ? existing.tags : checkTags(body.tags),
        properties: mergePatch(existing.properties, patch),
      };
      const saved = adr.save(record, actor(request), existing);
      return startOperation(request, { status: 200, body: deviceView(saved) });
    }),
  );

  router.add(
    "DELETE",
    `${base}/devices/:name`,
    arm((request) => {
      const record = adr.get(request.params.name ?? "");
      if (record === undefined) return { status: 204 };
      checkIfMatch(request, record);
      adr.delete(record, actor(request));
      return startOperation(request, { status: 204 });
    }),
  );
}

function checkTags(value: unknown): Record<string, string> {
  if (!isObject(value)) throw bad("InvalidRequestContent", "'tags' must be an object of string values.");
  const entries = Object.entries(value);
  if (entries.length > 50) throw bad("InvalidTagCount", "A resource can have at most 50 tags.");
  for (const [key, tag] of entries) {
    if (typeof tag !== "string") {
      throw bad("InvalidTagValue", `Tag '${key}' must have a string value.`);
    }
    if (key.length > 512 || tag.length > 256 || /[<>%&\\?/]/.test(key)) {
      throw bad(
        "InvalidTagNameCharacters",
        `Tag '${key.slice(0, 64)}' is invalid: names up to 512 characters without < > % & \\ ? /, values up to 256.`,
      );
    }
  }
  return value as Record<string, string>;
}

/** Type checks of the updatable properties (also used by PUT). */
function checkUpdatable(
  properties: Record<string, unknown>,
  store: SimContext["store"],
  adr: AdrService,
  namespace: string,
): void {
  const { enabled, operatingSystemVersion, endpoints, attributes, policy } = properties;
  if (enabled !== undefined && typeof enabled !== "boolean") {
    throw bad("InvalidRequestContent", "'properties.enabled' must be true or false.");
  }
  if (
    operatingSystemVersion !== undefined &&
    operatingSystemVersion !== null &&
    typeof operatingSystemVersion !== "string"
  ) {
    throw bad("InvalidRequestContent", "'properties.operatingSystemVersion' must be a string.");
  }
  if (endpoints !== undefined && endpoints !== null && !isObject(endpoints)) {
    throw bad("InvalidRequestContent", "'properties.endpoints' must be an object {inbound?, outbound?}.");
  }
  if (attributes !== undefined && attributes !== null && !isObject(attributes)) {
    throw bad("InvalidRequestContent", "'properties.attributes' must be a JSON object.");
  }
  for (const key of ["manufacturer", "model", "operatingSystem", "externalDeviceId", "discoveredDeviceRef"]) {
    const value = properties[key];
    if (value !== undefined && typeof value !== "string") {
      throw bad("InvalidRequestContent", `'properties.${key}' must be a string.`);
    }
  }
  if (policy !== undefined && policy !== null) {
    const resourceId = isObject(policy) ? policy.resourceId : undefined;
    if (typeof resourceId !== "string") {
      throw bad(
        "InvalidRequestContent",
        '\'properties.policy\' must be {"resourceId": "…/credentials/default/policies/{name}"}.',
      );
    }
    const name = resourceId.split("/").pop() ?? "";
    if (
      resourceId.toLowerCase() !== adr.policyResourceId(name).toLowerCase() ||
      store.getPolicy(namespace, name) === undefined
    ) {
      throw bad(
        "InvalidPolicyReference",
        `'properties.policy.resourceId' must name an existing credential policy of this namespace, e.g. ${adr.policyResourceId("default")}.`,
      );
    }
  }
}
