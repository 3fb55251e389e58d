/**
 * A scripted IoT Hub for tests: an aedes broker behind a real TLS (or WSS) listener on loopback that records
 * telemetry, answers twin GET / reported PATCH, sends desired-property patches, direct methods and C2D
 * messages, and answers `$iothub/credentials` certificate requests (by default 202, then 200 with a chain
 * signed by the test PKI's issuing CA). Error injection through `credentials` and `twin` scripts.
 */
import { randomUUID } from "node:crypto";
import { mergePatch } from "@skittlesorter/core";
import type { Aedes, Client, PublishPacket } from "aedes";
import {
  type BrokerConnection,
  connackRefusal,
  describeConnection,
  publishTo,
  serveBroker,
} from "./scripted-broker.ts";
import type { TestPki } from "./scripted-dps.ts";

/** A connection the scripted hub accepted (or refused). */
export interface HubConnection extends BrokerConnection {
  /** The CONNECT clean-session flag. */
  clean: boolean;
}

export interface TelemetryRecord {
  topic: string;
  payload: Buffer;
  connection: HubConnection;
}

export interface CredentialsRequest {
  topic: string;
  rid: string;
  /** The parsed JSON body (`{id, csr, replace?}`), or the raw text. */
  body: unknown;
  connection: HubConnection;
}

export interface HubReply {
  status: number;
  body?: unknown;
  /** Appended as `&retry-after=…`. */
  retryAfter?: number;
  /** `query` (default): `…/res/{status}/?$rid={rid}`; `path`: `…/res/{status}/{rid}` (the C design doc's form). */
  topicForm?: "query" | "path";
}

export type CredentialsScript = (
  request: CredentialsRequest,
  hub: ScriptedHub,
) => readonly HubReply[] | "silence" | Promise<readonly HubReply[] | "silence">;

export interface TwinRequest {
  kind: "get" | "patch";
  rid: string;
  body: unknown;
  connection: HubConnection;
}

/** Return a reply to answer a twin request yourself (e.g. a 429); `undefined` lets the hub answer normally. */
export type TwinScript = (request: TwinRequest) => HubReply | undefined;

export interface ScriptedHubOptions {
  pki: TestPki;
  transport?: "mqtts" | "wss" | undefined;
  /** Ask for a TLS client certificate (X.509); the chain is not checked here. */
  requestCert?: boolean | undefined;
  /** Return a CONNACK return code to refuse a connection (4 bad credentials, 5 not authorized). */
  authenticate?: (connection: HubConnection) => number | undefined;
  /** Default {@link standardCredentials}. */
  credentials?: CredentialsScript | undefined;
  twin?: TwinScript | undefined;
  /** Initial desired properties. */
  desired?: Record<string, unknown> | undefined;
  /** Topic filters whose SUBSCRIBE is refused (SUBACK 0x80), e.g. a hub without certificate management. */
  refuseSubscriptions?: readonly string[] | undefined;
}

export interface ScriptedHub {
  host: string;
  port: number;
  transport: "mqtts" | "wss";
  connections: HubConnection[];
  telemetry: TelemetryRecord[];
  credentialRequests: CredentialsRequest[];
  twinRequests: TwinRequest[];
  /** Every topic the hub published to a device, in order. */
  sent: { topic: string; payload: Buffer }[];
  twin: {
    desired: Record<string, unknown>;
    reported: Record<string, unknown>;
    desiredVersion: number;
    reportedVersion: number;
  };
  /** Resolves with the first non-undefined value of `pick`, re-checked whenever the hub's state changes. */
  waitFor<T>(pick: () => T | undefined): Promise<T>;
  /** The newest connection of a device that is still open. */
  liveConnection(): HubConnection | undefined;
  /** Merges a desired patch into the twin and sends it to the live connection. */
  updateDesired(patch: Record<string, unknown>): Promise<void>;
  /** Invokes a direct method on the live connection; resolves with the device's answer. */
  invokeMethod(name: string, payload: unknown): Promise<{ status: number; payload: unknown }>;
  /** Sends a C2D message with a property bag built from `properties` (encoded like the service does). */
  sendC2d(body: string, properties?: Record<string, string>): Promise<void>;
  /** Publishes a credentials answer for `rid` to the live connection. */
  answerCredentials(rid: string, reply: HubReply): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startScriptedHub(options: ScriptedHubOptions): Promise<ScriptedHub> {
  const { Aedes: AedesClass } = await import("aedes");
  const transport = options.transport ?? "mqtts";
  const connections: HubConnection[] = [];
  const open = new Set<HubConnection>();
  const telemetry: TelemetryRecord[] = [];
  const credentialRequests: CredentialsRequest[] = [];
  const twinRequests: TwinRequest[] = [];
  const sent: { topic: string; payload: Buffer }[] = [];
  const byClient = new Map<Client, HubConnection>();
  const methodWaiters = new Map<string, (answer: { status: number; payload: unknown }) => void>();
  const watchers = new Set<() => void>();
  const changed = (): void => {
    for (const watcher of [...watchers]) watcher();
  };
  const twin = {
    desired: { ...(options.desired ?? {}) } as Record<string, unknown>,
    reported: {} as Record<string, unknown>,
    desiredVersion: 1,
    reportedVersion: 1,
  };
  const credentialsScript = options.credentials ?? standardCredentials({ pki: options.pki });

  const broker: Aedes = await AedesClass.createBroker({
    authenticate(client, username, password, done) {
      const connection: HubConnection = {
        ...describeConnection(client, username, password, connections.length),
        clean: client.clean,
      };
      connections.push(connection);
      byClient.set(client, connection);
      const refused = options.authenticate?.(connection);
      if (refused !== undefined) {
        done(connackRefusal(refused), false);
        changed();
        return;
      }
      open.add(connection);
      done(null, true);
      changed();
    },
    authorizeSubscribe(_client, subscription, callback) {
      // null negates the subscription: aedes answers it with SUBACK 0x80.
      callback(null, options.refuseSubscriptions?.includes(subscription.topic) ? null : subscription);
    },
    authorizePublish(client, packet, callback) {
      // Accept every publish (an error here would disconnect) and act on the side.
      callback(null);
      const connection = client === null ? undefined : byClient.get(client);
      if (connection === undefined) return;
      void onPublish(connection, packet).catch(() => {});
    },
  });
  broker.on("clientDisconnect", (client) => {
    const connection = byClient.get(client);
    if (connection !== undefined) open.delete(connection);
    changed();
  });

  const publish = (connection: HubConnection, topic: string, payload: Buffer | string): Promise<void> => {
    const bytes = Buffer.from(payload);
    sent.push({ topic, payload: bytes });
    return publishTo(connection.client, topic, bytes);
  };

  const answerTopic = (area: "twin" | "credentials", rid: string, reply: HubReply, extra = ""): string => {
    let topic =
      reply.topicForm === "path"
        ? `$iothub/${area}/res/${reply.status}/${rid}`
        : `$iothub/${area}/res/${reply.status}/?$rid=${rid}${extra}`;
    if (reply.retryAfter !== undefined)
      topic += `${topic.includes("?") ? "&" : "?"}retry-after=${reply.retryAfter}`;
    return topic;
  };
  const bodyOf = (reply: HubReply): string => (reply.body === undefined ? "" : JSON.stringify(reply.body));

  async function onPublish(connection: HubConnection, packet: PublishPacket): Promise<void> {
    const topic = packet.topic;
    const payload = Buffer.from(packet.payload as Buffer);
    const query = new URLSearchParams(topic.includes("?") ? topic.slice(topic.indexOf("?") + 1) : "");
    const rid = query.get("$rid") ?? "";
    if (topic.startsWith(`devices/${connection.clientId}/messages/events/`)) {
      telemetry.push({ topic, payload, connection });
    } else if (
      topic.startsWith("$iothub/twin/GET/") ||
      topic.startsWith("$iothub/twin/PATCH/properties/reported/")
    ) {
      const kind = topic.startsWith("$iothub/twin/GET/") ? "get" : "patch";
      const body = parseJson(payload);
      const request: TwinRequest = { kind, rid, body, connection };
      twinRequests.push(request);
      const scripted = options.twin?.(request);
      if (scripted !== undefined) {
        await publish(connection, answerTopic("twin", rid, scripted), bodyOf(scripted));
      } else if (kind === "get") {
        const document = {
          desired: { ...twin.desired, $version: twin.desiredVersion },
          reported: { ...twin.reported, $version: twin.reportedVersion },
        };
        await publish(connection, `$iothub/twin/res/200/?$rid=${rid}`, JSON.stringify(document));
      } else {
        twin.reported = mergePatch(twin.reported, withoutVersion(body as Record<string, unknown>));
        twin.reportedVersion += 1;
        await publish(connection, `$iothub/twin/res/204/?$rid=${rid}&$version=${twin.reportedVersion}`, "");
      }
    } else if (topic.startsWith("$iothub/methods/res/")) {
      const status = Number(topic.split("/")[3]);
      methodWaiters.get(rid)?.({ status, payload: parseJson(payload) });
      methodWaiters.delete(rid);
    } else if (topic.startsWith("$iothub/credentials/POST/issueCertificate/")) {
      const request: CredentialsRequest = { topic, rid, body: parseJson(payload), connection };
      credentialRequests.push(request);
      changed();
      const replies = await credentialsScript(request, hub);
      if (replies !== "silence") {
        for (const reply of replies) {
          const target = liveConnection() ?? connection;
          await publish(target, answerTopic("credentials", rid, reply), bodyOf(reply));
        }
      }
    }
    changed();
  }

  function liveConnection(): HubConnection | undefined {
    return [...open].sort((a, b) => b.index - a.index)[0];
  }

  function requireLive(): HubConnection {
    const connection = liveConnection();
    if (connection === undefined) throw new Error("scripted hub: no device is connected");
    return connection;
  }

  const { port, close } = await serveBroker(broker, {
    transport,
    pki: options.pki,
    requestCert: options.requestCert,
  });

  const hub: ScriptedHub = {
    host: "localhost",
    port,
    transport,
    connections,
    telemetry,
    credentialRequests,
    twinRequests,
    sent,
    twin,
    waitFor<T>(pick: () => T | undefined): Promise<T> {
      return new Promise<T>((resolve) => {
        const check = (): void => {
          const value = pick();
          if (value !== undefined) {
            watchers.delete(check);
            resolve(value);
          }
        };
        watchers.add(check);
        check();
      });
    },
    liveConnection,
    async updateDesired(patch) {
      twin.desired = mergePatch(twin.desired, withoutVersion(patch));
      twin.desiredVersion += 1;
      await publish(
        requireLive(),
        `$iothub/twin/PATCH/properties/desired/?$version=${twin.desiredVersion}`,
        JSON.stringify({ ...patch, $version: twin.desiredVersion }),
      );
    },
    invokeMethod(name, payload) {
      const connection = requireLive();
      const rid = String(Math.floor(Math.random() * 1e9));
      return new Promise((resolve) => {
        methodWaiters.set(rid, resolve);
        void publish(connection, `$iothub/methods/POST/${name}/?$rid=${rid}`, JSON.stringify(payload));
      });
    },
    async sendC2d(body, properties = {}) {
      const connection = requireLive();
      const bag = Object.entries(properties)
        .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
        .join("&");
      await publish(connection, `devices/${connection.clientId}/messages/devicebound/${bag}`, body);
    },
    async answerCredentials(rid, reply) {
      await publish(requireLive(), answerTopic("credentials", rid, reply), bodyOf(reply));
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return hub;
}

export interface StandardCredentialsOptions {
  pki: TestPki;
  /** How to issue; default: sign the CSR as is with the PKI's issuing CA. */
  issue?: (csrWire: string, deviceId: string) => Promise<string[]> | undefined;
}

/**
 * A well-behaved hub renewal: checks `id` against the connection's device and the fields, then answers 202
 * `{correlationId, operationExpires}` and 200 `{correlationId, certificates}` (leaf → ICA → root, base64 DER).
 */
export function standardCredentials(options: StandardCredentialsOptions): CredentialsScript {
  return async (request) => {
    const body = request.body as { id?: unknown; csr?: unknown; replace?: unknown };
    const unknownField =
      typeof body === "object" &&
      body !== null &&
      Object.keys(body).some((key) => !["id", "csr", "replace"].includes(key));
    if (
      typeof body !== "object" ||
      body === null ||
      body.id !== request.connection.clientId ||
      unknownField
    ) {
      return [
        {
          status: 400,
          body: {
            errorCode: 400004,
            message: "Issue certificate request payload is invalid.",
            trackingId: "t-400",
          },
        },
      ];
    }
    if (typeof body.csr !== "string" || body.csr === "") {
      return [
        {
          status: 400,
          body: { errorCode: 400004, message: "'csr' field is invalid or missing.", trackingId: "t-400" },
        },
      ];
    }
    const correlationId = randomUUID();
    const certificates = options.issue
      ? await options.issue(body.csr, request.connection.clientId)
      : await options.pki.issue(body.csr);
    return [
      { status: 202, body: { correlationId, operationExpires: "2030-01-01T00:00:00.000Z" } },
      { status: 200, body: { correlationId, certificates } },
    ];
  };
}

function parseJson(payload: Buffer): unknown {
  const text = payload.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A twin patch's own properties: `$version` is the hub's bookkeeping, not a property. */
function withoutVersion(patch: Record<string, unknown> | null): Record<string, unknown> {
  const { $version: _version, ...properties } = patch ?? {};
  return properties;
}
