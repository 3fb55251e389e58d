import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";

export interface HttpsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when empty. */
  body: unknown;
}

export interface HttpsRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON (`content-type: application/json; charset=utf-8`). */
  body?: unknown;
  /** The root to trust (the simulator's `trustedCa`). */
  ca: string;
  /** A TLS client certificate (PEM chain, leaf first) and its key. */
  cert?: string;
  key?: string;
}

/** One HTTPS request on a fresh connection (no agent, no TLS session reuse), its JSON answer. */
export function httpsRequest(url: string, options: HttpsRequestOptions): Promise<HttpsAnswer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (payload !== undefined) {
    headers["content-type"] = "application/json; charset=utf-8";
    headers["content-length"] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method: options.method ?? "GET",
        headers,
        ca: options.ca,
        agent: false,
        ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: text === "" ? undefined : JSON.parse(text),
          });
        });
      },
    );
    outgoing.on("error", reject);
    outgoing.end(payload);
  });
}
