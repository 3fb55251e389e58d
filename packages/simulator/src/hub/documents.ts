// Devices and twins as IoT Hub's REST API answers them (the `Device` and `Twin` models of the data-plane swagger).
import type { HubDevice, Twin } from "../state/model.ts";
import { deviceEtagOf, generationIdOf } from "./registry.ts";
import type { HubService } from "./service.ts";

/** IoT Hub's "never" time stamp. */
const NEVER = "0001-01-01T00:00:00Z";

function connectionOf(hub: HubService, deviceId: string) {
  const last = hub.connectionState(deviceId);
  return {
    connectionState: hub.link(deviceId) === undefined ? "Disconnected" : "Connected",
    connectionStateUpdatedTime: last?.at ?? NEVER,
    lastActivityTime: last?.at ?? NEVER,
  } as const;
}

function thumbprintsOf(device: HubDevice): {
  primaryThumbprint: string | null;
  secondaryThumbprint: string | null;
} {
  const auth = device.authentication;
  return auth.type === "selfSigned"
    ? { primaryThumbprint: auth.primaryThumbprint, secondaryThumbprint: auth.secondaryThumbprint ?? null }
    : { primaryThumbprint: null, secondaryThumbprint: null };
}

/** The IoT Hub `Device` document, keys included (the service API's callers hold the hub's owner key). */
export function deviceDocument(hub: HubService, device: HubDevice): Record<string, unknown> {
  const auth = device.authentication;
  const connection = connectionOf(hub, device.deviceId);
  return {
    deviceId: device.deviceId,
    generationId: generationIdOf(device),
    etag: deviceEtagOf(device),
    connectionState: connection.connectionState,
    status: hub.registry.statusOf(device),
    statusReason: device.statusReason ?? null,
    connectionStateUpdatedTime: connection.connectionStateUpdatedTime,
    statusUpdatedTime: device.statusUpdated ?? NEVER,
    lastActivityTime: connection.lastActivityTime,
    cloudToDeviceMessageCount: 0,
    authentication: {
      symmetricKey:
        auth.type === "sas"
          ? { primaryKey: auth.primaryKey, secondaryKey: auth.secondaryKey }
          : { primaryKey: null, secondaryKey: null },
      x509Thumbprint: thumbprintsOf(device),
      type: auth.type,
    },
    capabilities: { iotEdge: false },
  };
}

/** The IoT Hub `Twin` document: tags, desired and reported properties with their `$version` and `$metadata`. */
export function twinDocument(hub: HubService, device: HubDevice, twin: Twin): Record<string, unknown> {
  const connection = connectionOf(hub, device.deviceId);
  return {
    deviceId: device.deviceId,
    etag: twin.etag,
    deviceEtag: deviceEtagOf(device),
    status: hub.registry.statusOf(device),
    statusReason: device.statusReason ?? null,
    statusUpdateTime: device.statusUpdated ?? NEVER,
    connectionState: connection.connectionState,
    lastActivityTime: connection.lastActivityTime,
    cloudToDeviceMessageCount: 0,
    authenticationType: device.authentication.type,
    x509Thumbprint: thumbprintsOf(device),
    modelId: "",
    version: twin.version,
    tags: twin.tags,
    properties: {
      desired: {
        ...twin.desired,
        $metadata: { $lastUpdated: twin.desiredUpdated, $lastUpdatedVersion: twin.desiredVersion },
        $version: twin.desiredVersion,
      },
      reported: {
        ...twin.reported,
        $metadata: { $lastUpdated: twin.reportedUpdated },
        $version: twin.reportedVersion,
      },
    },
    capabilities: { iotEdge: false },
  };
}
