import type { HubError } from "./errors.ts";

export interface C2dMessage {
  body: Buffer;
  /** Application properties. */
  properties: Record<string, string>;
  /** System properties, by wire name (`$.mid`, `$.cid`, `$.ct`, `iothub-ack`…). */
  system: Record<string, string>;
  topic: string;
}

export interface HubEvents {
  /** A connection is up (CONNACK and subscriptions done). */
  connected: { attempt: number };
  /** The connection dropped (or `reconnect()` was called); the client is reconnecting. */
  disconnected: { error: Error | undefined };
  /** A connection attempt failed; the next one follows after `delayMs`. */
  connectFailed: { error: HubError; attempt: number; delayMs: number };
  /** A desired-properties patch from the service. */
  desiredProperties: { patch: Record<string, unknown>; version: number | undefined };
  /** A cloud-to-device message. */
  c2dMessage: C2dMessage;
}

export type Listener<K extends keyof HubEvents> = (event: HubEvents[K]) => void;
