// Module identities over HTTP: IoT Hub's service REST paths as `azure-iothub` sends them (Registry module calls,
// module twins, `Client.invokeDeviceMethod(deviceId, moduleId, …)`), and the same operations in the admin API.

import { isSimulatorError } from "../errors.ts";
import {
  HttpError,
  ifMatchOf,
  includeSecrets,
  type RouteRequest,
  type RouteResponse,
  type Router,
} from "../net/http.ts";
import { isObject } from "../state/json.ts";
import { type HubModule, type ModuleTwin, moduleKey } from "./modules.ts";
import type { HubService } from "./service.ts";
import { iotHubAnswerOf, methodErrorAnswer } from "./service-api/errors.ts";
import { parseMethodRequest, parseTwinPatch } from "./service-requests.ts";

export interface ModuleRoutesOptions {
  hub: HubService;
  /** Checks the caller of a service REST route (the hub's `iothubowner` SAS); throws to refuse. */
  authorize(request: RouteRequest): unknown;
}

const bad = (message: string): HttpError => new HttpError(400, "ArgumentInvalid", message);

/** IoT Hub's REST shape of a module identity; the admin API adds what the connection subscribed to. */
export function moduleView(
  hub: HubService,
  module: HubModule,
  secrets: boolean,
  admin = false,
): Record<string, unknown> {
  const key = moduleKey(module.deviceId, module.moduleId);
  const connection = hub.connectionState(key);
  const { authentication } = module;
  return {
    moduleId: module.moduleId,
    deviceId: module.deviceId,
    managedBy: module.managedBy,
    generationId: module.generationId,
    etag: module.etag,
    connectionState: hub.link(key) === undefined ? "Disconnected" : "Connected",
    connectionStateUpdatedTime: connection?.at ?? "0001-01-01T00:00:00Z",
    lastActivityTime: connection?.at ?? "0001-01-01T00:00:00Z",
    cloudToDeviceMessageCount: 0,
    authentication: {
      symmetricKey:
        authentication.type === "sas" && secrets
          ? { primaryKey: authentication.primaryKey, secondaryKey: authentication.secondaryKey }
          : { primaryKey: null, secondaryKey: null },
      x509Thumbprint: {
        primaryThumbprint: authentication.type === "selfSigned" ? authentication.primaryThumbprint : null,
        secondaryThumbprint:
          authentication.type === "selfSigned" ? (authentication.secondaryThumbprint ?? null) : null,
      },
      type: authentication.type,
    },
    ...(admin ? { subscriptions: hub.link(key)?.subscriptions() ?? [] } : {}),
  };
}

/** IoT Hub's REST shape of a module twin. */
export function moduleTwinView(hub: HubService, twin: ModuleTwin): Record<string, unknown> {
  const module = hub.modules.require(twin.deviceId, twin.moduleId);
  return {
    deviceId: twin.deviceId,
    moduleId: twin.moduleId,
    etag: twin.etag,
    version: twin.version,
    status: "enabled",
    connectionState:
      hub.link(moduleKey(twin.deviceId, twin.moduleId)) === undefined ? "Disconnected" : "Connected",
    authenticationType: module.authentication.type,
    modelId: "",
    tags: twin.tags,
    properties: {
      desired: {
        ...twin.desired,
        $metadata: { $lastUpdated: twin.desiredUpdated },
        $version: twin.desiredVersion,
      },
      reported: {
        ...twin.reported,
        $metadata: { $lastUpdated: twin.reportedUpdated },
        $version: twin.reportedVersion,
      },
    },
  };
}

/** IoT Hub's error answer: methods get the nested JSON with 404103/504101, the rest `{"Message": "ErrorCode:…"}`. */
function iotHubModuleError(error: unknown): RouteResponse {
  if (isSimulatorError(error) && error.errorCode === "DEVICE_NOT_ONLINE") {
    return methodErrorAnswer(404, 404103, error.message, {});
  }
  if (isSimulatorError(error) && error.errorCode === "METHOD_TIMEOUT") {
    return methodErrorAnswer(504, 504101, error.message, {});
  }
  const answer = iotHubAnswerOf(error);
  if (answer === undefined) throw error;
  return answer;
}

type Handler = (request: RouteRequest) => RouteResponse | Promise<RouteResponse>;

/**
 * IoT Hub's module REST paths (`/devices/{d}/modules…`, `/twins/{d}/modules/{m}[/methods]`), each checked with
 * `authorize` and answering errors in IoT Hub's format.
 */
export function registerModuleRoutes(router: Router, options: ModuleRoutesOptions): void {
  const service =
    (handler: Handler): Handler =>
    async (request) => {
      try {
        await options.authorize(request);
        return await handler(request);
      } catch (error) {
        return iotHubModuleError(error);
      }
    };
  addModuleRoutes(router, options.hub, "", service, () => true);
}

/** The same operations under `/admin/devices/{d}/modules…` (keys only with `?includeSecrets=true`). */
export function registerModuleAdminRoutes(router: Router, options: { hub: HubService }): void {
  addModuleRoutes(router, options.hub, "/admin", (handler) => handler, includeSecrets);
}

function addModuleRoutes(
  router: Router,
  hub: HubService,
  prefix: string,
  wrap: (handler: Handler) => Handler,
  secrets: (request: RouteRequest) => boolean,
): void {
  const ids = (request: RouteRequest) => ({
    deviceId: request.params.id ?? "",
    moduleId: request.params.moduleId ?? "",
  });
  const modulePath = `${prefix}/devices/:id/modules/:moduleId`;
  // The admin API keeps twins and methods under the module; the service REST API under /twins.
  const twinPath = prefix === "" ? "/twins/:id/modules/:moduleId" : `${modulePath}/twin`;
  const methodsPath = prefix === "" ? "/twins/:id/modules/:moduleId/methods" : `${modulePath}/methods`;
  router.add(
    "GET",
    `${prefix}/devices/:id/modules`,
    wrap((request) => ({
      body: hub.modules
        .list(ids(request).deviceId)
        .map((module) => moduleView(hub, module, secrets(request), prefix !== "")),
    })),
  );
  router.add(
    "GET",
    modulePath,
    wrap((request) => {
      const { deviceId, moduleId } = ids(request);
      return {
        body: moduleView(hub, hub.modules.require(deviceId, moduleId), secrets(request), prefix !== ""),
      };
    }),
  );
  router.add(
    "PUT",
    modulePath,
    wrap((request) => {
      const { deviceId, moduleId } = ids(request);
      const body = request.body ?? {};
      if (!isObject(body))
        throw bad(
          'Send a module: {"authentication"?: {"type": "sas" | "selfSigned" | "certificateAuthority", …}}.',
        );
      if (body.moduleId !== undefined && body.moduleId !== moduleId) {
        throw bad(`The body's moduleId "${String(body.moduleId)}" differs from "${moduleId}" of the path.`);
      }
      // The admin API creates or replaces; the service API follows IoT Hub (If-Match updates, none creates).
      const ifMatch =
        ifMatchOf(request.headers["if-match"]) ??
        (prefix === "" || hub.modules.get(deviceId, moduleId) === undefined ? undefined : "*");
      const { module } = hub.modules.put(deviceId, moduleId, body, ifMatch);
      return { body: moduleView(hub, module, true, prefix !== "") };
    }),
  );
  router.add(
    "DELETE",
    modulePath,
    wrap((request) => {
      const { deviceId, moduleId } = ids(request);
      hub.modules.delete(deviceId, moduleId, ifMatchOf(request.headers["if-match"]));
      return { status: 204 };
    }),
  );
  router.add(
    "GET",
    twinPath,
    wrap((request) => {
      const { deviceId, moduleId } = ids(request);
      const twin = hub.modules.twin(deviceId, moduleId);
      return { body: moduleTwinView(hub, twin), headers: { etag: `"${twin.etag}"` } };
    }),
  );
  router.add(
    "PATCH",
    twinPath,
    wrap((request) => {
      const { deviceId, moduleId } = ids(request);
      const twin = hub.modules.patchTwin(
        deviceId,
        moduleId,
        parseTwinPatch(request.body),
        ifMatchOf(request.headers["if-match"]),
      );
      return { body: moduleTwinView(hub, twin), headers: { etag: `"${twin.etag}"` } };
    }),
  );
  router.add(
    "POST",
    methodsPath,
    wrap(async (request) => {
      const { deviceId, moduleId } = ids(request);
      const call = parseMethodRequest(request.body);
      const answer = await hub.invokeModuleMethod(deviceId, moduleId, call.methodName, call.payload, call);
      return { body: answer };
    }),
  );
}
