import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ArmAnswer {
  status: number;
  headers?: Record<string, string> | undefined;
  /** Sent as JSON unless a string. */
  body?: unknown;
  /** Wait before answering. */
  delayMs?: number;
}

export type ArmHandler = (request: RecordedRequest, server: ArmServer) => ArmAnswer | Promise<ArmAnswer>;

export interface ArmServer {
  baseUrl: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A loopback `node:http` (or, with `tls`, `node:https`) server answering like ARM through `handler`; records every request. */
export async function startArmServer(
  handler: ArmHandler,
  options: { tls?: { key: string; cert: string } } = {},
): Promise<ArmServer> {
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let server: ArmServer;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        url: new URL(req.url ?? "/", server.baseUrl),
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(recorded);
      Promise.resolve()
        .then(() => handler(recorded, server))
        .then(
          (answer) => {
            const send = (): void => {
              const text =
                answer.body === undefined
                  ? ""
                  : typeof answer.body === "string"
                    ? answer.body
                    : JSON.stringify(answer.body);
              res.writeHead(answer.status, {
                ...(text === "" ? {} : { "content-type": "application/json; charset=utf-8" }),
                "x-ms-request-id": `req-${requests.length}`,
                ...answer.headers,
              });
              res.end(text);
            };
            if (answer.delayMs === undefined) send();
            else {
              const timer = setTimeout(() => {
                timers.delete(timer);
                if (!res.destroyed) send();
              }, answer.delayMs);
              timers.add(timer);
            }
          },
          (error: unknown) => {
            res.writeHead(500, { "content-type": "application/json" });
            res.end(JSON.stringify({ error: { code: "TestHandlerError", message: String(error) } }));
          },
        );
    });
  };
  const http = options.tls === undefined ? createServer(onRequest) : createTlsServer(options.tls, onRequest);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      http.close(() => resolve());
      http.closeAllConnections();
    });
    return closed;
  };
  const scheme = options.tls === undefined ? "http" : "https";
  server = { baseUrl: `${scheme}://127.0.0.1:${port}`, requests, close, [Symbol.asyncDispose]: close };
  return server;
}

/** An ARM error answer. */
export function armErrorAnswer(
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): ArmAnswer {
  return { status, body: { error: { code, message } }, headers };
}

/** A device resource as ARM returns it. */
export function deviceResource(
  name: string,
  properties: Record<string, unknown> = {},
  tags: Record<string, string> = {},
) {
  return {
    id: `/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DeviceRegistry/namespaces/ns-1/devices/${name}`,
    name,
    type: "Microsoft.DeviceRegistry/namespaces/devices",
    location: "northeurope",
    etag: '"0001"',
    tags,
    properties: {
      externalDeviceId: name,
      enabled: true,
      provisioningState: "Succeeded",
      attributes: {},
      ...properties,
    },
  };
}
