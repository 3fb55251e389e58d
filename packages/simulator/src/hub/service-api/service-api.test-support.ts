// Test clients for the Azure-facing REST APIs of a simulator in default mode (`localhost:PORT`, where the official
// `azure-iothub` package cannot go): IoT Hub's service API signed as that package signs, and ADR's ARM API.
import { createSasToken } from "@skittlesorter/attestation";
import type { SimConfig } from "../../config.ts";
import { type HttpsAnswer, httpsRequest } from "../../net/https.test-support.ts";

type Call = (
  method: string,
  path: string,
  options?: { body?: unknown; headers?: Record<string, string> },
) => Promise<HttpsAnswer>;

/** IoT Hub's service REST API (api-version 2021-04-12), SAS-signed with the hub's `iothubowner` policy. */
export function hubServiceClient(config: SimConfig): Call {
  const fields = new Map(
    (config.hubs[0]?.serviceConnectionString ?? "").split(";").map((part) => {
      const at = part.indexOf("=");
      return [part.slice(0, at), part.slice(at + 1)] as const;
    }),
  );
  const authorization = createSasToken(fields.get("HostName") ?? "", fields.get("SharedAccessKey") ?? "", {
    keyName: "iothubowner",
  });
  return (method, path, options = {}) =>
    httpsRequest(new URL(`${path}?api-version=2021-04-12`, config.https.url).href, {
      method,
      headers: { authorization, ...options.headers },
      body: options.body,
      ca: config.trustedCa,
    });
}

/** ADR's ARM REST API for the simulator's namespace: `path` is relative to it (`/devices/{name}`). */
export function adrClient(config: SimConfig): Call {
  const { baseUrl, subscriptionId, resourceGroup, namespace, token } = config.adr;
  const namespaceUrl = `${baseUrl}/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.DeviceRegistry/namespaces/${namespace}`;
  return (method, path, options = {}) =>
    httpsRequest(`${namespaceUrl}${path}?api-version=2025-11-01-preview`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...options.headers },
      body: options.body,
      ca: config.trustedCa,
    });
}
