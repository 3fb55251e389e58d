import type { OperationOptions } from "@skittlesorter/core";
import type { DeviceCredentials } from "./credentials.ts";
import { SorterError } from "./errors.ts";
import type {
  DesiredListener,
  HubConnection,
  HubConnector,
  HubMessage,
  MethodHandler,
  MethodResult,
} from "./hub.ts";

export interface ReceivedMessage extends HubMessage {
  deviceId: string;
  /** SHA-256 thumbprint of the certificate the connection used. */
  thumbprint: string;
}

/**
 * An in-memory IoT Hub implementing {@link HubConnector}, for tests and offline demos: records telemetry and reported
 * properties, pushes desired properties, invokes direct methods, and can be taken down or made to refuse certificates.
 */
export class MemoryHub implements HubConnector {
  readonly messages: ReceivedMessage[] = [];
  /** Reported properties, merged. */
  reported: Record<string, unknown> = {};
  desired: Record<string, unknown> = {};
  /** Every connect attempt: the thumbprint presented and whether it was accepted. */
  readonly connects: { thumbprint: string; accepted: boolean; reason?: string }[] = [];
  #down = false;
  #refused = new Set<string>();
  #connections = new Set<MemoryConnection>();

  get connected(): boolean {
    return [...this.#connections].some((connection) => connection.open);
  }

  /** While down, connects fail and open connections break. */
  setDown(down: boolean): void {
    this.#down = down;
    if (down) for (const connection of this.#connections) connection.breakWith(unreachable());
  }

  /** Refuse this certificate from now on (disabled device, revoked, moved); open connections using it break. */
  refuse(thumbprint: string): void {
    this.#refused.add(thumbprint);
    for (const connection of this.#connections) {
      if (connection.thumbprint === thumbprint) connection.breakWith(unauthorized());
    }
  }

  /** Sends a desired-properties patch to the connected device. */
  pushDesired(patch: Record<string, unknown>): void {
    this.desired = { ...this.desired, ...patch };
    for (const connection of this.#connections) if (connection.open) connection.emitDesired(patch);
  }

  /** Invokes a direct method on the connected device. */
  async invoke(name: string, payload: unknown = {}): Promise<MethodResult> {
    const connection = [...this.#connections].find((c) => c.open);
    if (connection === undefined) return { status: 404, payload: { message: "device not connected" } };
    return connection.invoke(name, payload);
  }

  async connect(credentials: DeviceCredentials, options: OperationOptions = {}): Promise<HubConnection> {
    options.signal?.throwIfAborted();
    await Promise.resolve();
    const thumbprint = credentials.certificate.sha256Thumbprint;
    if (this.#down) {
      this.connects.push({ thumbprint, accepted: false, reason: "down" });
      throw unreachable();
    }
    if (this.#refused.has(thumbprint)) {
      this.connects.push({ thumbprint, accepted: false, reason: "refused" });
      throw unauthorized();
    }
    this.connects.push({ thumbprint, accepted: true });
    const connection = new MemoryConnection(
      this,
      credentials.deviceId,
      thumbprint,
      () => this.#down,
      (c) => this.#connections.delete(c),
    );
    this.#connections.add(connection);
    return connection;
  }
}

function unreachable(): SorterError {
  return new SorterError("HUB_UNREACHABLE", "The in-memory hub is down.");
}

function unauthorized(): SorterError {
  return new SorterError("HUB_UNAUTHORIZED", "The in-memory hub refused the certificate.");
}

class MemoryConnection implements HubConnection {
  readonly deviceId: string;
  readonly thumbprint: string;
  open = true;
  readonly #hub: MemoryHub;
  readonly #isDown: () => boolean;
  readonly #onClose: (connection: MemoryConnection) => void;
  readonly #desired = new Set<DesiredListener>();
  readonly #methods = new Map<string, MethodHandler>();
  readonly #disconnect = new Set<(error: SorterError) => void>();

  constructor(
    hub: MemoryHub,
    deviceId: string,
    thumbprint: string,
    isDown: () => boolean,
    onClose: (c: MemoryConnection) => void,
  ) {
    this.#hub = hub;
    this.deviceId = deviceId;
    this.thumbprint = thumbprint;
    this.#isDown = isDown;
    this.#onClose = onClose;
  }

  breakWith(error: SorterError): void {
    if (!this.open) return;
    this.open = false;
    this.#onClose(this);
    for (const listener of this.#disconnect) listener(error);
  }

  emitDesired(patch: Record<string, unknown>): void {
    for (const listener of this.#desired) listener(patch);
  }

  async invoke(name: string, payload: unknown): Promise<MethodResult> {
    const handler = this.#methods.get(name);
    if (handler === undefined) return { status: 501, payload: { message: `no handler for ${name}` } };
    return handler(payload);
  }

  async send(message: HubMessage, options: OperationOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    await Promise.resolve();
    if (!this.open) throw new SorterError("HUB_CLOSED", "The connection is closed.");
    if (this.#isDown()) {
      this.breakWith(unreachable());
      throw unreachable();
    }
    this.#hub.messages.push({
      ...message,
      properties: { ...message.properties },
      deviceId: this.deviceId,
      thumbprint: this.thumbprint,
    });
  }

  async reportTwin(patch: Record<string, unknown>): Promise<void> {
    await Promise.resolve();
    if (!this.open) throw new SorterError("HUB_CLOSED", "The connection is closed.");
    this.#hub.reported = mergePatch(this.#hub.reported, patch);
  }

  onDesired(listener: DesiredListener): () => void {
    this.#desired.add(listener);
    if (Object.keys(this.#hub.desired).length > 0) queueMicrotask(() => listener({ ...this.#hub.desired }));
    return () => this.#desired.delete(listener);
  }

  onMethod(name: string, handler: MethodHandler): void {
    this.#methods.set(name, handler);
  }

  onDisconnect(listener: (error: SorterError) => void): () => void {
    this.#disconnect.add(listener);
    return () => this.#disconnect.delete(listener);
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.#onClose(this);
  }
}

/** JSON merge patch (RFC 7386), as twin reported properties work: null removes a key. */
export function mergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (typeof value === "object" && !Array.isArray(value)) {
      const current = out[key];
      out[key] = mergePatch(
        typeof current === "object" && current !== null && !Array.isArray(current)
          ? (current as Record<string, unknown>)
          : {},
        value as Record<string, unknown>,
      );
    } else out[key] = value;
  }
  return out;
}
