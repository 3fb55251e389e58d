import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type DeviceAuthType,
  deviceAuthType,
  devicePage,
  registerPortalRoutes,
} from "../admin/portal-routes.ts";
import type { AdrService } from "../adr/service.ts";
import {
  HttpError,
  ifMatchOf,
  includeSecrets,
  type RouteRequest,
  type RouteResponse,
  type Router,
} from "../net/http.ts";
import type { SimContext } from "../state/context.ts";
import type { AuditEvent, HubDevice } from "../state/model.ts";
import { twinDocument } from "./documents.ts";
import type { HubConnectionEvent, HubService } from "./service.ts";
import { parseMethodRequest, parseTwinPatch } from "./service-requests.ts";
import { type TelemetryView, telemetryView } from "./telemetry.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const HEARTBEAT_MS = 15_000;
const STREAM_TYPES = ["telemetry", "connection", "twin", "audit"] as const;
type StreamType = (typeof STREAM_TYPES)[number];

function timeParam(request: RouteRequest, name: string): number | undefined {
  const text = request.query.get(name);
  if (text === null || text === "") return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(value)) {
    throw new HttpError(
      400,
      "INVALID_QUERY",
      `"${name}" must be an ISO 8601 time or epoch milliseconds, got "${text.slice(0, 64)}".`,
    );
  }
  return value;
}

function integerParam(request: RouteRequest, name: string, min: number, max: number): number | undefined {
  const text = request.query.get(name);
  if (text === null || text === "") return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new HttpError(400, "INVALID_QUERY", `"${name}" must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

/** A hub device with what the dashboard shows: connection, activity, message count, certificate. */
/** `?groupBy=NAME`: the message property (JSON body member or application property) to count messages by. */
function groupByParam(request: RouteRequest): string | undefined {
  const name = request.query.get("groupBy");
  if (name === null || name === "") return undefined;
  if (name.length > 64 || /["\\\p{Cc}]/u.test(name)) {
    throw new HttpError(
      400,
      "INVALID_QUERY",
      `"groupBy" must be a property name of at most 64 characters without quotes, backslashes or control characters.`,
    );
  }
  return name;
}

export interface HubDeviceView extends Omit<HubDevice, "authentication"> {
  /** SAS keys only with `?includeSecrets=true`. */
  authentication: HubDevice["authentication"] | { type: "sas" };
  connectionState: "Connected" | "Disconnected";
  connectionStateUpdatedTime: string | null;
  /** While connected: what the device subscribed to (twinResponses, desiredUpdates, methods, cloudToDevice). */
  subscriptions: string[];
  /** How the device authenticates (x509CA, selfSigned or sas); `authMethod` is how its live connection did. */
  authType: DeviceAuthType;
  authMethod: string | null;
  lastActivityTime: string | null;
  messageCount: number;
  adrDeviceName: string | null;
  certificate: {
    serialNumber: string;
    subject: string;
    sha256Thumbprint: string;
    notBefore: string;
    notAfter: string;
    daysLeft: number;
  } | null;
}

/** `/admin/devices…` (hub registry, twins, methods) and `/admin/telemetry…`, `/admin/stream` (live events). */
export interface HubRoutesOptions {
  context: SimContext;
  hub: HubService;
  adr: AdrService;
  /** A live stream reader with more unsent bytes than this is disconnected. */
  maxStreamBufferBytes: number;
}

/** The admin API of the simulator's IoT hub: devices, twins, direct methods, telemetry and the live event stream. */
export function registerHubRoutes(router: Router, options: HubRoutesOptions): void {
  deviceRoutes(router, options);
  methodRoutes(router, options);
  telemetryRoutes(router, options);
  streamRoutes(router, options);
  registerPortalRoutes(router, options);
}

/** Devices as the admin API shows them: connection, activity, ADR record and certificate; keys on request only. */
function deviceViews(
  options: HubRoutesOptions,
  request: RouteRequest,
  devices: HubDevice[],
): HubDeviceView[] {
  const { context, hub, adr } = options;
  const { store } = context;
  const secrets = includeSecrets(request);
  const counts = new Map(store.telemetrySummary().devices.map((item) => [item.deviceId, item]));
  const now = context.clock.now();
  return devices.map((device) => {
    const connection = hub.connectionState(device.deviceId);
    const live = hub.link(device.deviceId);
    const issued = store.listIssuedCertificates(device.registrationId).at(-1);
    const activity = counts.get(device.deviceId);
    const adrRecord = adr.forDeviceId(device.deviceId);
    return {
      ...device,
      // Derived device keys only on request (?includeSecrets=true).
      authentication:
        secrets || device.authentication.type !== "sas" ? device.authentication : { type: "sas" },
      connectionState: live !== undefined ? "Connected" : "Disconnected",
      connectionStateUpdatedTime: connection?.at ?? null,
      subscriptions: live?.subscriptions() ?? [],
      authType: deviceAuthType(device),
      authMethod: live?.authMethod ?? connection?.authMethod ?? null,
      lastActivityTime:
        activity === undefined ? (connection?.at ?? null) : new Date(activity.lastEnqueuedAt).toISOString(),
      messageCount: activity?.count ?? 0,
      adrDeviceName: adrRecord?.name ?? null,
      certificate:
        issued === undefined
          ? null
          : {
              serialNumber: issued.serialNumber,
              subject: issued.subject,
              sha256Thumbprint: issued.sha256Thumbprint,
              notBefore: issued.notBefore,
              notAfter: issued.notAfter,
              daysLeft: Math.floor((Date.parse(issued.notAfter) - now) / DAY_MS),
            },
    };
  });
}

function findDevice(hub: HubService, request: RouteRequest): HubDevice {
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

/** Devices and their twins. */
function deviceRoutes(router: Router, options: HubRoutesOptions): void {
  const { context, hub } = options;
  const { store } = context;
  router.add("GET", "/admin/devices", (request) => {
    const page = devicePage(request, store.listDevices(request.query.get("hub") ?? undefined));
    return {
      body: deviceViews(options, request, page.items),
      headers: { "x-total-count": String(page.total) },
    };
  });
  router.add("GET", "/admin/devices/:id", (request) => ({
    body: deviceViews(options, request, [findDevice(hub, request)])[0],
  }));
  router.add("GET", "/admin/devices/:id/twin", (request) => {
    const device = findDevice(hub, request);
    const twin = hub.twin(device.hub, device.deviceId);
    return { body: twinDocument(hub, device, twin), headers: { etag: twin.etag } };
  });
  router.add("PATCH", "/admin/devices/:id/twin", (request) => {
    const device = findDevice(hub, request);
    const twin = hub.patchDesired(
      device.deviceId,
      parseTwinPatch(request.body),
      ifMatchOf(request.headers["if-match"]),
    );
    return { body: twinDocument(hub, device, twin), headers: { etag: twin.etag } };
  });
}

/** Direct methods. */
function methodRoutes(router: Router, options: HubRoutesOptions): void {
  const { hub } = options;
  router.add("POST", "/admin/devices/:id/methods", async (request) => {
    const device = findDevice(hub, request);
    const call = parseMethodRequest(request.body);
    return { body: await hub.invokeMethod(device.deviceId, call.methodName, call.payload, call) };
  });
}

/** Stored telemetry and its summary. */
function telemetryRoutes(router: Router, options: HubRoutesOptions): void {
  const { context } = options;
  const { store } = context;
  router.add("GET", "/admin/telemetry", (request) => {
    const deviceId = request.query.get("device") ?? undefined;
    const fromMs = timeParam(request, "from");
    const toMs = timeParam(request, "to");
    const afterId = integerParam(request, "after", 0, Number.MAX_SAFE_INTEGER);
    const limit = integerParam(request, "limit", 1, 10_000) ?? 100;
    return {
      body: store
        .listTelemetry({
          deviceId,
          fromMs,
          toMs,
          afterId,
          limit,
        })
        .map(telemetryView),
    };
  });
  router.add("GET", "/admin/telemetry/summary", (request) => {
    const groupBy = groupByParam(request);
    const summary = store.telemetrySummary(request.query.get("device") ?? undefined, groupBy);
    return {
      body: {
        total: summary.total,
        devices: summary.devices.map((item) => ({
          deviceId: item.deviceId,
          count: item.count,
          lastEnqueuedTime: new Date(item.lastEnqueuedAt).toISOString(),
        })),
        groupBy, // left out of the JSON when undefined
        groups: summary.groups,
      },
    };
  });
}

/** The live event stream (server-sent events) of `types`, resuming after `Last-Event-ID`. */
function openStream(
  options: HubRoutesOptions,
  request: RouteRequest,
  types: readonly StreamType[],
): RouteResponse {
  const { context, hub, maxStreamBufferBytes } = options;
  const { store } = context;
  const deviceId = request.query.get("device") ?? undefined;
  const lastEventId = request.headers["last-event-id"];
  return {
    stream(response: ServerResponse, incoming: IncomingMessage) {
      response.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      const write = (event: string, data: unknown, id?: number): void => {
        if (response.writableEnded || response.destroyed) return;
        response.write(
          `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
        );
        // A reader that does not keep up would otherwise make the simulator buffer without limit;
        // an EventSource reconnects with Last-Event-ID and catches up on telemetry.
        if (response.writableLength > maxStreamBufferBytes) {
          context.logger.warn("event stream reader too slow; disconnected", {
            path: request.path,
            bufferedBytes: response.writableLength,
            limitBytes: maxStreamBufferBytes,
          });
          response.destroy();
        }
      };
      response.write("retry: 2000\n: connected\n\n");
      const wanted = (id: string): boolean => deviceId === undefined || id === deviceId;
      // A reconnecting EventSource sends the id of the last message it saw: replay what it missed.
      if (types.includes("telemetry") && typeof lastEventId === "string" && /^\d+$/.test(lastEventId)) {
        for (const message of store.listTelemetry({
          afterId: Number(lastEventId),
          limit: 1000,
          deviceId,
        })) {
          write("telemetry", telemetryView(message), message.id);
        }
      }
      const cleanups: (() => void)[] = [];
      const on = <T>(event: string, listener: (value: T) => void): void => {
        hub.on(event, listener);
        cleanups.push(() => hub.off(event, listener));
      };
      if (types.includes("telemetry")) {
        on<TelemetryView>("telemetry", (message) => {
          if (wanted(message.deviceId)) write("telemetry", message, message.id);
        });
      }
      if (types.includes("connection")) {
        on<HubConnectionEvent>("connection", (event) => {
          if (wanted(event.deviceId)) write("connection", event);
        });
      }
      if (types.includes("twin")) {
        on<{ deviceId: string }>("twin", (event) => {
          if (wanted(event.deviceId)) write("twin", event);
        });
      }
      if (types.includes("audit")) {
        cleanups.push(
          store.onEvent((event: AuditEvent) => {
            if (deviceId === undefined || event.subject === deviceId) write("audit", event);
          }),
        );
      }
      const heartbeat = setInterval(() => {
        if (!response.writableEnded) response.write(": ping\n\n");
      }, HEARTBEAT_MS);
      heartbeat.unref();
      cleanups.push(() => clearInterval(heartbeat));
      const cleanup = (): void => {
        for (const fn of cleanups.splice(0)) fn();
      };
      incoming.once("close", cleanup);
      response.once("close", cleanup);
    },
  };
}

/** The live event streams. */
function streamRoutes(router: Router, options: HubRoutesOptions): void {
  router.add("GET", "/admin/telemetry/stream", (request) => openStream(options, request, ["telemetry"]));
  router.add("GET", "/admin/stream", (request) => {
    const text = request.query.get("types");
    const types =
      text === null || text === ""
        ? STREAM_TYPES
        : text.split(",").map((type) => {
            if (!(STREAM_TYPES as readonly string[]).includes(type)) {
              throw new HttpError(
                400,
                "INVALID_QUERY",
                `"types" takes a comma list of ${STREAM_TYPES.join(", ")}.`,
              );
            }
            return type as StreamType;
          });
    return openStream(options, request, types);
  });
}
