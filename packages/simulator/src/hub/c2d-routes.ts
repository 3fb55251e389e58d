// Admin API for cloud-to-device messages: send one to a device, list a device's messages with their state.
import { HttpError, type RouteRequest, type Router } from "../net/http.ts";
import { isObject } from "../state/json.ts";
import type { CloudToDeviceInput, CloudToDeviceMessage } from "./c2d.ts";
import type { HubService } from "./service.ts";

/** A cloud-to-device message as the admin API and the CLI show it. */
export interface CloudToDeviceView extends Omit<CloudToDeviceMessage, "bodyBase64"> {
  /** UTF-8 text, or base64 when the body is not valid UTF-8 (`bodyEncoding`). */
  body: string;
  bodyEncoding: "utf8" | "base64";
}

/** The body of `POST /admin/devices/{id}/messages`. */
export interface SendCloudToDeviceRequest {
  body: string;
  /** How `body` is encoded; default utf8. */
  bodyEncoding?: "utf8" | "base64";
  properties?: Record<string, string>;
  messageId?: string;
  correlationId?: string;
  contentType?: string;
  contentEncoding?: string;
  /** Time to live in seconds, 1 to 172 800 (48 h); IoT Hub's default is 3 600. */
  ttlSeconds?: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function cloudToDeviceView(message: CloudToDeviceMessage): CloudToDeviceView {
  const { bodyBase64, ...rest } = message;
  const bytes = Buffer.from(bodyBase64, "base64");
  try {
    return { ...rest, body: utf8.decode(bytes), bodyEncoding: "utf8" };
  } catch {
    return { ...rest, body: bodyBase64, bodyEncoding: "base64" };
  }
}

const bad = (message: string): HttpError => new HttpError(400, "INVALID_BODY", message);

const USAGE =
  'Send {"body": "text", "bodyEncoding"?: "utf8" | "base64", "properties"?: {"name": "value"}, "messageId"?, ' +
  '"correlationId"?, "contentType"?, "contentEncoding"?, "ttlSeconds"?: 1-172800}.';

/** The message a POST body describes. */
function inputOf(body: unknown): CloudToDeviceInput {
  if (!isObject(body)) throw bad(USAGE);
  const text = (name: string): string | undefined => {
    const value = body[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw bad(`"${name}" must be a string. ${USAGE}`);
    return value;
  };
  const encoding = text("bodyEncoding") ?? "utf8";
  if (encoding !== "utf8" && encoding !== "base64") throw bad(`"bodyEncoding" must be "utf8" or "base64".`);
  const content = text("body") ?? "";
  const { properties, ttlSeconds } = body;
  if (
    properties !== undefined &&
    (!isObject(properties) || Object.values(properties).some((v) => typeof v !== "string"))
  ) {
    throw bad(`"properties" must be an object of string values. ${USAGE}`);
  }
  if (ttlSeconds !== undefined && typeof ttlSeconds !== "number")
    throw bad(`"ttlSeconds" must be a number. ${USAGE}`);
  return {
    body: Buffer.from(content, encoding),
    messageId: text("messageId"),
    correlationId: text("correlationId"),
    contentType: text("contentType"),
    contentEncoding: text("contentEncoding"),
    properties: properties as Record<string, string> | undefined,
    ttlSeconds,
  };
}

function deviceOf(hub: HubService, request: RouteRequest) {
  const deviceId = request.params.id ?? "";
  const device = hub.device(deviceId);
  if (device === undefined) {
    throw new HttpError(
      404,
      "DEVICE_NOT_FOUND",
      `No device "${deviceId}" in the simulator's hub; provision it through DPS first (GET /admin/devices lists them).`,
    );
  }
  return device;
}

/** `POST /admin/devices/{id}/messages` (send) and `GET /admin/devices/{id}/messages` (the device's queue). */
export function registerCloudToDeviceRoutes(router: Router, options: { hub: HubService }): void {
  const { hub } = options;
  router.add("POST", "/admin/devices/:id/messages", (request) => {
    const device = deviceOf(hub, request);
    const message = hub.cloudToDevice.send(device.hub, device.deviceId, inputOf(request.body));
    return { status: 201, body: cloudToDeviceView(message) };
  });
  router.add("GET", "/admin/devices/:id/messages", (request) => {
    const device = deviceOf(hub, request);
    return { body: hub.cloudToDevice.list(device.deviceId).map(cloudToDeviceView) };
  });
}
