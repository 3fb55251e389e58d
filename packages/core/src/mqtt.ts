import { readFileSync } from "node:fs";

/** The two ways Azure's MQTT endpoints (DPS, IoT Hub) are reached: MQTT over TLS on 8883, or over WSS on 443. */
export type MqttTransport = "mqtts" | "wss";

/** Trusted roots for a server's TLS certificate, as users give them (PEM text or buffers, one or many). */
export type TrustedCa = string | Buffer | ReadonlyArray<string | Buffer>;

export interface MqttEndpointOptions {
  /** Default `mqtts`. */
  transport?: MqttTransport | undefined;
  /** Default 8883 for `mqtts`, 443 for `wss`. */
  port?: number | undefined;
  /** Default 60; 0 turns keep-alive off. */
  keepAliveSeconds?: number | undefined;
  ca?: TrustedCa | undefined;
}

/** Checked endpoint settings, in the shapes the `mqtt` package's client options take. */
export interface MqttEndpoint {
  transport: MqttTransport;
  port: number;
  keepAliveSeconds: number;
  /** `mqtt`'s `ca` option wants one string, one buffer, or a list of only strings or only buffers. */
  ca: string | Buffer | string[] | Buffer[] | undefined;
}

/**
 * Checks the transport, port and keep-alive an MQTT client was given and applies their defaults. A bad value
 * throws `invalid(message)`, so each client raises its own typed error with a message naming the option.
 */
export function resolveMqttEndpoint(
  options: MqttEndpointOptions,
  invalid: (message: string) => Error,
): MqttEndpoint {
  const transport = options.transport ?? "mqtts";
  if (transport !== "mqtts" && transport !== "wss") {
    throw invalid(`transport must be "mqtts" or "wss", got ${JSON.stringify(transport)}.`);
  }
  const port = options.port ?? (transport === "wss" ? 443 : 8883);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalid(`port must be an integer from 1 to 65535, got ${port}.`);
  }
  const keepAliveSeconds = options.keepAliveSeconds ?? 60;
  if (!Number.isInteger(keepAliveSeconds) || keepAliveSeconds < 0 || keepAliveSeconds > 65_535) {
    throw invalid(`keepAliveSeconds must be an integer from 0 to 65535, got ${keepAliveSeconds}.`);
  }
  return { transport, port, keepAliveSeconds, ca: caList(options.ca) };
}

function caList(ca: TrustedCa | undefined): MqttEndpoint["ca"] {
  if (ca === undefined || typeof ca === "string" || Buffer.isBuffer(ca)) return ca;
  const list = [...ca];
  return list.every((entry) => typeof entry === "string")
    ? list
    : list.map((entry) => (typeof entry === "string" ? Buffer.from(entry) : entry));
}

const userAgents = new Map<string, string>();

/**
 * `{product}/{version}`, the version read once from the package.json at `packageJsonUrl` (pass
 * `new URL("../package.json", import.meta.url)`); `0.0.0` when it cannot be read, since a user agent is
 * informational.
 */
export function packageUserAgent(product: string, packageJsonUrl: URL): string {
  const key = `${product} ${packageJsonUrl.href}`;
  let userAgent = userAgents.get(key);
  if (userAgent === undefined) {
    userAgent = `${product}/${packageVersion(packageJsonUrl)}`;
    userAgents.set(key, userAgent);
  }
  return userAgent;
}

function packageVersion(packageJsonUrl: URL): string {
  try {
    const { version } = JSON.parse(readFileSync(packageJsonUrl, "utf8")) as { version?: unknown };
    return typeof version === "string" ? version : "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/** The part of an `mqtt` client that {@link endMqttClient} uses. */
export interface EndableMqttClient {
  readonly connected: boolean;
  end(force?: boolean, options?: object, callback?: () => void): unknown;
}

export interface EndMqttClientOptions {
  /** Drop the socket at once instead of sending DISCONNECT (the connection is already known to be bad). */
  force?: boolean | undefined;
}

/** How long a graceful end may take before the socket is dropped. */
const END_GRACE_MS = 2_000;

/**
 * Ends an MQTT connection: gracefully (DISCONNECT, in-flight messages flushed) when it is up, else by dropping
 * the socket. A graceful end that hangs drops the socket after 2 s. Resolves once the client is ended.
 */
export async function endMqttClient(
  client: EndableMqttClient,
  options: EndMqttClientOptions = {},
): Promise<void> {
  if (options.force === true || !client.connected) {
    client.end(true);
    return;
  }
  // A real timer on purpose: a socket-teardown safety net, not protocol timing (an injected clock may be frozen).
  await new Promise<void>((resolve) => {
    const handle = setTimeout(() => {
      client.end(true);
      resolve();
    }, END_GRACE_MS);
    handle.unref?.();
    client.end(false, {}, () => {
      clearTimeout(handle);
      resolve();
    });
  });
}
