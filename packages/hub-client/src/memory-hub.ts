import { X509Certificate } from "node:crypto";
import { mergePatch, type OperationOptions } from "@skittlesorter/core";
import {
  checkCredentials,
  closedError,
  type DesiredListener,
  type HubConnection,
  type HubConnector,
  type HubCredentials,
  type HubMessage,
  type MethodHandler,
  type MethodResult,
} from "./connection.ts";
import { HubClientError } from "./errors.ts";

/** A message as the in-memory hub received it. */
export interface ReceivedMessage {
  deviceId: string;
  /** The body as UTF-8 text. */
  body: string;
  messageId: string | undefined;
  correlationId: string | undefined;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  properties: Record<string, string>;
  authentication: "x509" | "sas";
  /** SHA-256 thumbprint (upper-case hex) of the device certificate, for X.509 connections. */
  thumbprint: string | undefined;
}

/** One connect attempt: who, and whether the hub let it in. */
export interface ConnectAttempt {
  deviceId: string;
  thumbprint: string | undefined;
  accepted: boolean;
  /** Why it was refused. */
  reason?: "down" | "refused";
}

/**
 * An in-memory IoT Hub implementing {@link HubConnector}, for tests and offline demos. It accepts any well-formed
 * credentials, records telemetry and reported properties, pushes desired properties, invokes direct methods, and
 * can be taken down or made to refuse a device or certificate. It passes {@link hubClientConformance}.
 */
export class MemoryHub implements HubConnector {
  /** Every message received, oldest first. */
  readonly messages: ReceivedMessage[] = [];
  /** Every connect attempt, oldest first. */
  readonly connects: ConnectAttempt[] = [];
  readonly #reported = new Map<string, Record<string, unknown>>();
  readonly #desired = new Map<string, Record<string, unknown>>();
  readonly #refused = new Set<string>();
  readonly #connections = new Set<MemoryConnection>();
  #down = false;

  /** Reported properties of `deviceId`, or of the only device that reported any when omitted. */
  reportedOf(deviceId?: string): Record<string, unknown> {
    return structuredClone(this.#reported.get(deviceId ?? this.#onlyDevice(this.#reported)) ?? {});
  }

  /** Reported properties of the only device (the common single-device test). */
  get reported(): Record<string, unknown> {
    return this.reportedOf();
  }

  /** Desired properties of `deviceId`. */
  desiredOf(deviceId: string): Record<string, unknown> {
    return structuredClone(this.#desired.get(deviceId) ?? {});
  }

  /** True while any device is connected. */
  get connected(): boolean {
    return this.#connections.size > 0;
  }

  /** While down, connects fail and open connections break with `HUB_UNREACHABLE`. */
  setDown(down: boolean): void {
    this.#down = down;
    if (down) for (const connection of [...this.#connections]) connection.breakWith(unreachable());
  }

  /**
   * Refuses a device (by device id) or a certificate (by SHA-256 thumbprint) from now on, as a disabled device or a
   * revoked certificate; its open connections break with `HUB_UNAUTHORIZED`.
   */
  refuse(deviceIdOrThumbprint: string): void {
    this.#refused.add(deviceIdOrThumbprint.toUpperCase());
    for (const connection of [...this.#connections]) {
      if (this.#isRefused(connection.deviceId, connection.thumbprint)) connection.breakWith(unauthorized());
    }
  }

  /** Merges `patch` into the desired properties of `deviceId` (default: the only connected device) and pushes it. */
  pushDesired(patch: Record<string, unknown>, deviceId?: string): void {
    const id = deviceId ?? this.#onlyConnectedDevice();
    this.#desired.set(id, mergePatch(this.#desired.get(id) ?? {}, patch));
    for (const connection of this.#connections) if (connection.deviceId === id) connection.emitDesired(patch);
  }

  /** Invokes a direct method (default: on the only connected device); 404 when the device is not connected. */
  async invoke(name: string, payload: unknown = {}, deviceId?: string): Promise<MethodResult> {
    const connection = [...this.#connections].find(
      (candidate) => deviceId === undefined || candidate.deviceId === deviceId,
    );
    if (connection === undefined) return { status: 404, payload: { message: "device not connected" } };
    return connection.invoke(name, payload);
  }

  async connect(credentials: HubCredentials, options: OperationOptions = {}): Promise<HubConnection> {
    checkCredentials(credentials);
    options.signal?.throwIfAborted();
    const thumbprint = credentials.type === "x509" ? thumbprintOf(credentials.certificatePem) : undefined;
    await Promise.resolve();
    options.signal?.throwIfAborted();
    const attempt: ConnectAttempt = { deviceId: credentials.deviceId, thumbprint, accepted: false };
    this.connects.push(attempt);
    if (this.#down) {
      attempt.reason = "down";
      throw unreachable();
    }
    if (this.#isRefused(credentials.deviceId, thumbprint)) {
      attempt.reason = "refused";
      throw unauthorized();
    }
    attempt.accepted = true;
    const connection = new MemoryConnection(credentials, thumbprint, {
      isDown: () => this.#down,
      received: (message) => this.messages.push(message),
      reported: (patch) =>
        this.#reported.set(
          credentials.deviceId,
          mergePatch(this.#reported.get(credentials.deviceId) ?? {}, patch),
        ),
      desired: () => structuredClone(this.#desired.get(credentials.deviceId) ?? {}),
      closed: (closing) => this.#connections.delete(closing),
    });
    this.#connections.add(connection);
    return connection;
  }

  #isRefused(deviceId: string, thumbprint: string | undefined): boolean {
    return (
      this.#refused.has(deviceId.toUpperCase()) || (thumbprint !== undefined && this.#refused.has(thumbprint))
    );
  }

  #onlyConnectedDevice(): string {
    const ids = new Set([...this.#connections].map((connection) => connection.deviceId));
    if (ids.size !== 1) {
      throw new HubClientError(
        "HUB_INVALID_OPTION",
        `${ids.size} devices are connected: name the device id.`,
      );
    }
    return [...ids][0] as string;
  }

  #onlyDevice(map: Map<string, unknown>): string {
    if (map.size > 1)
      throw new HubClientError("HUB_INVALID_OPTION", `${map.size} devices reported: name the device id.`);
    return [...map.keys()][0] ?? "";
  }
}

function thumbprintOf(certificatePem: string): string {
  try {
    return new X509Certificate(certificatePem).fingerprint256.replaceAll(":", "").toUpperCase();
  } catch (error) {
    throw new HubClientError("HUB_INVALID_OPTION", "credentials.certificatePem is not a PEM certificate.", {
      cause: error,
    });
  }
}

const unreachable = (): HubClientError => new HubClientError("HUB_UNREACHABLE", "The in-memory hub is down.");
const unauthorized = (): HubClientError =>
  new HubClientError("HUB_UNAUTHORIZED", "The in-memory hub refused the device's credentials.");

interface HubSide {
  isDown(): boolean;
  received(message: ReceivedMessage): void;
  reported(patch: Record<string, unknown>): void;
  desired(): Record<string, unknown>;
  closed(connection: MemoryConnection): void;
}

class MemoryConnection implements HubConnection {
  readonly deviceId: string;
  readonly thumbprint: string | undefined;
  readonly #credentials: HubCredentials;
  readonly #hub: HubSide;
  readonly #desiredListeners = new Set<DesiredListener>();
  readonly #methods = new Map<string, MethodHandler>();
  readonly #disconnectListeners = new Set<(error: HubClientError) => void>();
  #open = true;
  #closedByUs = false;

  constructor(credentials: HubCredentials, thumbprint: string | undefined, hub: HubSide) {
    this.deviceId = credentials.deviceId;
    this.thumbprint = thumbprint;
    this.#credentials = credentials;
    this.#hub = hub;
  }

  breakWith(error: HubClientError): void {
    if (!this.#open) return;
    this.#open = false;
    this.#hub.closed(this);
    for (const listener of [...this.#disconnectListeners]) listener(error);
  }

  emitDesired(patch: Record<string, unknown>): void {
    for (const listener of this.#desiredListeners) listener(structuredClone(patch));
  }

  async invoke(name: string, payload: unknown): Promise<MethodResult> {
    const handler = this.#methods.get(name);
    if (handler === undefined) return { status: 501, payload: { message: `no handler for ${name}` } };
    try {
      const result = await handler(structuredClone(payload));
      return { status: result.status, payload: result.payload ?? {} };
    } catch (error) {
      return { status: 500, payload: { error: error instanceof Error ? error.message : String(error) } };
    }
  }

  async send(message: HubMessage, options: OperationOptions = {}): Promise<void> {
    await this.#ready(options);
    this.#hub.received({
      deviceId: this.deviceId,
      body: typeof message.body === "string" ? message.body : Buffer.from(message.body).toString("utf8"),
      messageId: message.messageId,
      correlationId: message.correlationId,
      contentType: message.contentType,
      contentEncoding: message.contentEncoding,
      properties: { ...message.properties },
      authentication: this.#credentials.type,
      thumbprint: this.thumbprint,
    });
  }

  async reportTwin(patch: Record<string, unknown>, options: OperationOptions = {}): Promise<void> {
    await this.#ready(options);
    this.#hub.reported(structuredClone(patch));
  }

  onDesired(listener: DesiredListener): () => void {
    this.#desiredListeners.add(listener);
    const current = this.#hub.desired();
    queueMicrotask(() => {
      if (this.#desiredListeners.has(listener)) listener(current);
    });
    return () => this.#desiredListeners.delete(listener);
  }

  onMethod(name: string, handler: MethodHandler): void {
    this.#methods.set(name, handler);
  }

  onDisconnect(listener: (error: HubClientError) => void): () => void {
    this.#disconnectListeners.add(listener);
    return () => this.#disconnectListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closedByUs = true;
    if (!this.#open) return;
    this.#open = false;
    this.#disconnectListeners.clear();
    this.#hub.closed(this);
  }

  /** Like a real hub: checks the connection as the message goes out, after the caller's turn. */
  async #ready(options: OperationOptions): Promise<void> {
    options.signal?.throwIfAborted();
    await Promise.resolve();
    options.signal?.throwIfAborted();
    if (this.#closedByUs) throw closedError(this.deviceId);
    if (this.#hub.isDown()) this.breakWith(unreachable());
    if (!this.#open) {
      throw new HubClientError(
        "HUB_UNREACHABLE",
        `The connection of "${this.deviceId}" to the in-memory hub was lost.`,
        {
          deviceId: this.deviceId,
        },
      );
    }
  }
}
