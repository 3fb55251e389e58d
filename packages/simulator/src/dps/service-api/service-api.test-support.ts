import { request as httpsRequest } from "node:https";
import { createSasToken } from "@skittlesorter/attestation";
import type { SimConfig } from "../../config.ts";

export interface ServiceAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** The parts of `dps.serviceConnectionString`. */
export function connectionStringParts(config: SimConfig): { hostName: string; keyName: string; key: string } {
  const parts = new Map(
    config.dps.serviceConnectionString.split(";").map((part) => {
      const eq = part.indexOf("=");
      return [part.slice(0, eq), part.slice(eq + 1)] as const;
    }),
  );
  return {
    hostName: parts.get("HostName") ?? "",
    keyName: parts.get("SharedAccessKeyName") ?? "",
    key: parts.get("SharedAccessKey") ?? "",
  };
}

/** A DPS service REST client over real HTTPS that signs as the SDK does (`sr` = the host name). */
export function serviceClient(config: SimConfig, token?: string | null) {
  const { hostName, keyName, key } = connectionStringParts(config);
  const authorization =
    token === undefined ? createSasToken(hostName, key, { keyName }) : token === null ? undefined : token;
  return (
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<ServiceAnswer> =>
    new Promise((resolve, reject) => {
      const url = new URL(`${path}${path.includes("?") ? "&" : "?"}api-version=2021-10-01`, config.https.url);
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      const headers: Record<string, string> = {
        accept: "application/json",
        ...(authorization === undefined ? {} : { authorization }),
        ...(payload === undefined ? {} : { "content-type": "application/json; charset=utf-8" }),
        ...options.headers,
      };
      const request = httpsRequest(url, { method, headers, ca: config.trustedCa }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: text === "" ? undefined : JSON.parse(text),
          });
        });
      });
      request.on("error", reject);
      request.end(payload);
    });
}
