// IoT Hub's service REST API as the official `azure-iothub` package calls it (api-version 2021-04-12): device
// identities, twins and direct methods, SAS-authenticated with the hub's iothubowner policy.
import {
  ifMatchOf,
  type RouteHandler,
  type RouteRequest,
  type RouteResponse,
  type Router,
} from "../../net/http.ts";
import { deviceDocument, twinDocument } from "../documents.ts";
import type { HubService } from "../service.ts";
import { parseMethodRequest, parseTwinPatch, twinReplacement } from "../service-requests.ts";
import { iotHubRoute, methodErrorAnswer } from "./errors.ts";

export interface ServiceApiOptions {
  hub: HubService;
  /** Refuses a request that is not authorized (see `createServiceAuthorizer`). */
  authorize: (request: RouteRequest) => unknown;
}

const deviceIdOf = (request: RouteRequest): string => request.params.id ?? "";

/** `hh:mm:ss`, the way IoT Hub reports a method's connect timeout. */
function timeSpan(ms: number): string {
  const total = Math.floor(ms / 1000);
  const two = (value: number): string => String(value).padStart(2, "0");
  return `${two(Math.floor(total / 3600))}:${two(Math.floor(total / 60) % 60)}:${two(total % 60)}`;
}

/** Registers `/devices/…`, `/twins/…` and `/twins/{id}/methods` on the HTTPS router. */
export function registerHubServiceApi(router: Router, options: ServiceApiOptions): void {
  const { hub } = options;
  const { registry } = hub;
  const route = (method: string, path: string, handler: RouteHandler) =>
    router.add(method, path, iotHubRoute(options.authorize, handler));

  route("GET", "/devices", () => ({ body: registry.list().map((device) => deviceDocument(hub, device)) }));
  route("GET", "/devices/:id", (request) => ({
    body: deviceDocument(hub, registry.get(deviceIdOf(request))),
  }));
  route("PUT", "/devices/:id", (request) => {
    const device = registry.put(deviceIdOf(request), request.body, ifMatchOf(request.headers["if-match"]));
    return { body: deviceDocument(hub, device) };
  });
  route("DELETE", "/devices/:id", (request) => {
    registry.delete(deviceIdOf(request), ifMatchOf(request.headers["if-match"]));
    return { status: 204 };
  });

  const twinAnswer = (deviceId: string): RouteResponse => {
    const device = registry.get(deviceId);
    const twin = hub.twin(device.hub, deviceId);
    return { body: twinDocument(hub, device, twin), headers: { etag: `"${twin.etag}"` } };
  };
  route("GET", "/twins/:id", (request) => twinAnswer(deviceIdOf(request)));
  route("PATCH", "/twins/:id", (request) => {
    const deviceId = deviceIdOf(request);
    registry.get(deviceId);
    hub.patchDesired(deviceId, parseTwinPatch(request.body), ifMatchOf(request.headers["if-match"]));
    return twinAnswer(deviceId);
  });
  route("PUT", "/twins/:id", (request) => {
    const deviceId = deviceIdOf(request);
    const device = registry.get(deviceId);
    const change = twinReplacement(hub.twin(device.hub, deviceId), request.body);
    hub.patchDesired(deviceId, change, ifMatchOf(request.headers["if-match"]));
    return twinAnswer(deviceId);
  });

  route("POST", "/twins/:id/methods", async (request) => {
    const deviceId = deviceIdOf(request);
    registry.get(deviceId);
    const call = parseMethodRequest(request.body);
    try {
      return { body: await hub.invokeMethod(deviceId, call.methodName, call.payload, call) };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "SIM_DEVICE_NOT_ONLINE") {
        return methodErrorAnswer(404, 404103, "Timed out waiting for device to connect.", {
          timeout: timeSpan(call.connectTimeoutMs),
        });
      }
      if (code === "SIM_TIMEOUT") {
        return methodErrorAnswer(504, 504101, "Timed out waiting for the response from device.", {});
      }
      throw error;
    }
  });
}
