// What the dashboard (portal) needs beyond the plain resources: device search and paging, one vocabulary for the
// device authentication type, enabling and disabling a device, and filtered audit events.
import type { HubService } from "../hub/service.ts";
import { HttpError, type RouteRequest, type Router } from "../net/http.ts";
import type { HubDevice } from "../state/model.ts";
import { bad, object } from "./validate.ts";

/**
 * How a device authenticates to the hub, in the words IoT Hub's portal and Azure IoT Explorer use: `x509CA`
 * (a certificate chaining to a CA the hub trusts), `selfSigned` (by thumbprint) or `sas` (symmetric key).
 * The registry's `authentication.type` keeps the REST name (`certificateAuthority`).
 */
export type DeviceAuthType = "x509CA" | "selfSigned" | "sas";

export function deviceAuthType(device: HubDevice): DeviceAuthType {
  const type = device.authentication.type;
  return type === "certificateAuthority" ? "x509CA" : type;
}

const MAX_PAGE = 1000;

function queryInteger(request: RouteRequest, name: string, min: number, max: number): number | undefined {
  const text = request.query.get(name);
  if (text === null || text === "") return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new HttpError(400, "INVALID_QUERY", `"${name}" must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

/**
 * `?search=TEXT&limit=N&offset=N` over the hub's devices: ids containing TEXT (case-insensitive), then the page.
 * `total` is the number of matches (answered in the `x-total-count` header).
 */
export function devicePage(
  request: RouteRequest,
  devices: HubDevice[],
): { items: HubDevice[]; total: number } {
  const search = (request.query.get("search") ?? "").trim().toLowerCase();
  if (search.length > 128) {
    throw new HttpError(400, "INVALID_QUERY", '"search" is at most 128 characters (a part of a device id).');
  }
  const matches =
    search === "" ? devices : devices.filter((device) => device.deviceId.toLowerCase().includes(search));
  const offset = queryInteger(request, "offset", 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const limit = queryInteger(request, "limit", 1, MAX_PAGE);
  return {
    items: limit === undefined ? matches.slice(offset) : matches.slice(offset, offset + limit),
    total: matches.length,
  };
}

export interface PortalRoutesOptions {
  hub: HubService;
}

/**
 * `PATCH /admin/devices/:id` with `{"status": "enabled" | "disabled"}`, through the hub's device registry as the service
 * API's `PUT /devices/{id}` goes: a disabled device is disconnected and refused, and its ADR record follows.
 */
export function registerPortalRoutes(router: Router, options: PortalRoutesOptions): void {
  const { hub } = options;
  router.add("PATCH", "/admin/devices/:id", (request) => {
    const deviceId = request.params.id ?? "";
    if (hub.device(deviceId) === undefined) {
      throw new HttpError(404, "DEVICE_NOT_FOUND", `No device "${deviceId}" in the simulator's hub.`);
    }
    const body = object(request.body, "The body");
    const { status } = body;
    if (
      (status !== "enabled" && status !== "disabled") ||
      Object.keys(body).some((key) => key !== "status")
    ) {
      throw bad(
        "INVALID_BODY",
        'Send {"status": "enabled"} or {"status": "disabled"}; nothing else can be changed here.',
      );
    }
    hub.registry.setStatus(deviceId, status, "admin");
    return { status: 204 };
  });
}
