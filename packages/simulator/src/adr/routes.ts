import { randomUUID, timingSafeEqual } from "node:crypto";
import { mergePatch } from "@skittlesorter/core";
import { certificateFacts } from "@skittlesorter/csr";
import {
  HttpError,
  type RouteHandler,
  type RouteRequest,
  type RouteResponse,
  type Router,
} from "../net/http.ts";
import type { SimContext } from "../state/context.ts";
import { isObject } from "../state/json.ts";
import type { AdrDeviceRecord, AdrPolicy } from "../state/model.ts";
import {
  ADR_CREDENTIAL_TYPE,
  ADR_DEVICE_NAME,
  ADR_DEVICE_TYPE,
  ADR_LOCATION,
  ADR_NAMESPACE_TYPE,
  ADR_POLICY_TYPE,
  ADR_PROVIDER,
  type AdrService,
  newArmEtag,
} from "./service.ts";

export const ADR_API_VERSION = "2025-11-01-preview";

export interface AdrApiOptions {
  context: SimContext;
  adr: AdrService;
  /** The bearer token every request must carry. */
  token: () => string;
  /** Devices per list page unless `$top` says otherwise. */
  pageSize: number;
  /** How long long-running operations stay `InProgress` (their effect is applied at once). */
  operationDelayMs: number;
}

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

interface Operation {
  id: string;
  startTime: string;
  readyAt: number;
  /** What the `Location` URL answers once done. */
  result: { status: 200 | 204; body?: unknown };
}

const bad = (code: string, message: string): HttpError => new HttpError(400, code, message);

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The ADR ARM REST API (`Microsoft.DeviceRegistry`, api-version 2025-11-01-preview) on the admin HTTP port:
 * namespace, devices (list with `nextLink`, get, PUT, PATCH, DELETE), the credential, its policies and
 * `credentials/default/synchronize`, plus ARM's operation status/result URLs for long-running operations.
 */
export function registerAdrRoutes(router: Router, options: AdrApiOptions): void {
  const { adr, context } = options;
  const { store } = context;
  const namespace = adr.namespace;
  const operations = new Map<string, Operation>();

  const requestOrigin = (request: RouteRequest): string => {
    const host = request.headers.host;
    return `http://${typeof host === "string" && host !== "" ? host : "127.0.0.1"}`;
  };

  /** Auth, api-version and the subscription / resource group / namespace of the path. */
  const arm =
    (handler: RouteHandler, scope: "namespace" | "subscription" = "namespace"): RouteHandler =>
    async (request) => {
      const requestId = randomUUID();
      const headers = {
        "x-ms-request-id": requestId,
        "x-ms-correlation-request-id":
          typeof request.headers["x-ms-correlation-request-id"] === "string"
            ? request.headers["x-ms-correlation-request-id"]
            : requestId,
      };
      try {
        const authorization = request.headers.authorization;
        if (authorization === undefined) {
          throw new HttpError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing; send 'Authorization: Bearer <token>' with adr.token from sim.json.",
            { "www-authenticate": 'Bearer authorization_uri="skittle-sim", error="invalid_token"' },
          );
        }
        const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
        if (match === null || !sameToken(match[1] ?? "", options.token())) {
          throw new HttpError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid; use adr.token from the running simulator's sim.json.",
            { "www-authenticate": 'Bearer authorization_uri="skittle-sim", error="invalid_token"' },
          );
        }
        const apiVersion = request.query.get("api-version");
        if (apiVersion === null || apiVersion === "") {
          throw bad(
            "MissingApiVersionParameter",
            `The api-version query parameter (?api-version=) is required for all requests; use ${ADR_API_VERSION}.`,
          );
        }
        if (apiVersion !== ADR_API_VERSION) {
          throw bad(
            "NoRegisteredProviderFound",
            `No registered resource provider found for api version '${apiVersion}'. The supported api-versions are '${ADR_API_VERSION}'.`,
          );
        }
        if (request.params.subscription?.toLowerCase() !== namespace.subscriptionId.toLowerCase()) {
          throw new HttpError(
            404,
            "SubscriptionNotFound",
            `The subscription '${request.params.subscription}' could not be found; the simulator's is ${namespace.subscriptionId} (sim.json adr.subscriptionId).`,
          );
        }
        if (scope === "namespace") {
          if (request.params.resourceGroup?.toLowerCase() !== namespace.resourceGroup.toLowerCase()) {
            throw new HttpError(
              404,
              "ResourceGroupNotFound",
              `Resource group '${request.params.resourceGroup}' could not be found; the simulator's is '${namespace.resourceGroup}'.`,
            );
          }
          if (request.params.namespace?.toLowerCase() !== namespace.name.toLowerCase()) {
            const nested = request.path.split("/").filter(Boolean).length > 8;
            throw new HttpError(
              404,
              nested ? "ParentResourceNotFound" : "ResourceNotFound",
              nested
                ? `Can not perform requested operation on nested resource. Parent resource '${request.params.namespace}' not found.`
                : `The Resource '${ADR_NAMESPACE_TYPE}/${request.params.namespace}' under resource group '${namespace.resourceGroup}' was not found.`,
            );
          }
        }
        const answer = await handler(request);
        return { ...answer, headers: { ...headers, ...answer.headers } };
      } catch (error) {
        if (error instanceof HttpError) {
          throw new HttpError(error.status, error.code, error.message, { ...headers, ...error.headers });
        }
        throw error;
      }
    };

  const base =
    "/subscriptions/:subscription/resourceGroups/:resourceGroup/providers/Microsoft.DeviceRegistry/namespaces/:namespace";
  const opsBase = "/subscriptions/:subscription/providers/Microsoft.DeviceRegistry/locations/:location";

  // --- long-running operations ------------------------------------------------------------------

  const startOperation = (request: RouteRequest, result: Operation["result"]): RouteResponse => {
    const now = context.clock.now();
    for (const [id, operation] of operations) {
      if (operation.readyAt < now - 60 * 60 * 1000) operations.delete(id);
    }
    const operation: Operation = {
      id: randomUUID(),
      startTime: new Date(now).toISOString(),
      readyAt: now + options.operationDelayMs,
      result,
    };
    operations.set(operation.id, operation);
    const prefix = `${requestOrigin(request)}/subscriptions/${namespace.subscriptionId}/providers/${ADR_PROVIDER}/locations/${ADR_LOCATION}`;
    const query = `?api-version=${ADR_API_VERSION}`;
    return {
      status: 202,
      headers: {
        "azure-asyncoperation": `${prefix}/operationStatuses/${operation.id}${query}`,
        location: `${prefix}/operationResults/${operation.id}${query}`,
        "retry-after": String(Math.ceil(options.operationDelayMs / 1000)),
      },
    };
  };

  const findOperation = (request: RouteRequest): Operation => {
    const operation = operations.get(request.params.id ?? "");
    if (operation === undefined) {
      throw new HttpError(
        404,
        "OperationNotFound",
        `Operation '${request.params.id}' was not found (or expired).`,
      );
    }
    return operation;
  };

  router.add(
    "GET",
    `${opsBase}/operationStatuses/:id`,
    arm((request) => {
      const operation = findOperation(request);
      const done = context.clock.now() >= operation.readyAt;
      return {
        body: {
          id: `/subscriptions/${namespace.subscriptionId}/providers/${ADR_PROVIDER}/locations/${ADR_LOCATION}/operationStatuses/${operation.id}`,
          name: operation.id,
          status: done ? "Succeeded" : "InProgress",
          startTime: operation.startTime,
          ...(done ? { endTime: new Date(operation.readyAt).toISOString(), percentComplete: 100 } : {}),
        },
        ...(done ? {} : { headers: { "retry-after": retryAfterSeconds(operation, context.clock.now()) } }),
      };
    }, "subscription"),
  );
  router.add(
    "GET",
    `${opsBase}/operationResults/:id`,
    arm((request) => {
      const operation = findOperation(request);
      const now = context.clock.now();
      if (now < operation.readyAt) {
        return {
          status: 202,
          headers: {
            location: `${requestOrigin(request)}${request.path}?api-version=${ADR_API_VERSION}`,
            "retry-after": retryAfterSeconds(operation, now),
          },
        };
      }
      return operation.result.body === undefined
        ? { status: operation.result.status }
        : { status: operation.result.status, body: operation.result.body };
    }, "subscription"),
  );

  // --- namespace and credential -----------------------------------------------------------------

  router.add(
    "GET",
    base,
    arm(() => ({
      body: {
        id: adr.namespaceId,
        name: namespace.name,
        type: ADR_NAMESPACE_TYPE,
        location: ADR_LOCATION,
        tags: {},
        properties: {
          uuid: store.getMeta<{ uuid?: string }>("adrNamespace")?.uuid ?? namespace.subscriptionId,
          messaging: {
            endpoints: Object.fromEntries(
              store
                .listHubs()
                .map((hub) => [
                  hub.name,
                  { endpointType: "Microsoft.Devices/IoTHubs", address: hub.hostname },
                ]),
            ),
          },
          provisioningState: "Succeeded",
        },
      },
    })),
  );

  const credentialPath = `${base}/credentials/:credential`;
  const checkCredential = (request: RouteRequest): void => {
    if (request.params.credential !== "default") {
      throw new HttpError(
        404,
        "ResourceNotFound",
        `The credential '${request.params.credential}' was not found; a namespace has one credential, 'default'.`,
      );
    }
  };
  router.add(
    "GET",
    credentialPath,
    arm((request) => {
      checkCredential(request);
      const trust = adr.trust();
      return {
        body: {
          id: `${adr.namespaceId}/credentials/default`,
          name: "default",
          type: ADR_CREDENTIAL_TYPE,
          location: ADR_LOCATION,
          tags: {},
          properties: { provisioningState: "Succeeded", lastSynchronizedAt: trust.synchronizedAt },
        },
      };
    }),
  );
  router.add(
    "POST",
    `${credentialPath}/synchronize`,
    arm((request) => {
      checkCredential(request);
      adr.synchronize("adr-rest");
      return startOperation(request, { status: 204 });
    }),
  );

  const policyView = (policy: AdrPolicy): Record<string, unknown> => {
    const ca = certificateFacts(policy.issuingCaPem);
    return {
      id: adr.policyResourceId(policy.name),
      name: policy.name,
      type: ADR_POLICY_TYPE,
      location: ADR_LOCATION,
      tags: {},
      systemData: {
        createdBy: "skittle-sim",
        createdByType: "Application",
        createdAt: policy.created,
        lastModifiedBy: "skittle-sim",
        lastModifiedByType: "Application",
        lastModifiedAt: policy.created,
      },
      properties: {
        certificate: {
          certificateAuthorityConfiguration: {
            keyType: "ECC",
            subject: ca.subject,
            validityNotBefore: ca.notBefore.toISOString(),
            validityNotAfter: ca.notAfter.toISOString(),
          },
          leafCertificateConfiguration: { validityPeriodInDays: policy.validityDays },
        },
        provisioningState: "Succeeded",
      },
    };
  };
  router.add(
    "GET",
    `${credentialPath}/policies`,
    arm((request) => {
      checkCredential(request);
      return { body: { value: store.listPolicies(namespace.name).map(policyView) } };
    }),
  );
  router.add(
    "GET",
    `${credentialPath}/policies/:policy`,
    arm((request) => {
      checkCredential(request);
      const policy = store.getPolicy(namespace.name, request.params.policy ?? "");
      if (policy === undefined) {
        throw new HttpError(
          404,
          "ResourceNotFound",
          `The Resource '${ADR_POLICY_TYPE}/${request.params.policy}' under resource group '${namespace.resourceGroup}' was not found.`,
        );
      }
      return { body: policyView(policy) };
    }),
  );

  // --- devices ----------------------------------------------------------------------------------

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
        ...(afterName === undefined ? {} : { afterName }),
        limit: limit + 1,
      });
      const items = page.slice(0, limit);
      const body: Record<string, unknown> = { value: items.map(deviceView) };
      const last = items[items.length - 1];
      if (page.length > limit && last !== undefined) {
        const next = new URLSearchParams({
          "api-version": ADR_API_VERSION,
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

function retryAfterSeconds(operation: Operation, now: number): string {
  return String(Math.max(1, Math.ceil((operation.readyAt - now) / 1000)));
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
