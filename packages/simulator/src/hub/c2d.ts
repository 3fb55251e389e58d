// IoT Hub cloud-to-device messages: a durable queue per device, delivered over MQTT on
// `devices/{id}/messages/devicebound/{property bag}` at QoS 1. A PUBACK completes a message (MQTT devices cannot
// reject or abandon). Lifecycle and limits as IoT Hub documents them (iot-hub-devguide-messages-c2d).
import type { Clock, Logger } from "@skittlesorter/core";
import { azureTimestamp } from "../azure-time.ts";
import { serviceError } from "../errors.ts";
import type { Store } from "../state/store.ts";
import type { HubLink } from "./service.ts";

/** IoT Hub's defaults and limits for cloud-to-device messages. */
export const C2D_LIMITS = Object.freeze({
  /** Messages waiting (enqueued or locked) per device; one more is refused. */
  maxQueueDepth: 50,
  /** The hub's default time to live (PT1H). */
  defaultTtlSeconds: 60 * 60,
  /** Two days: the longest time to live. */
  maxTtlSeconds: 48 * 60 * 60,
  /** Deliveries (Enqueued → Invisible) before a message is dead-lettered. */
  maxDeliveryCount: 10,
  /** How long a delivered, unacknowledged message stays locked before it is enqueued again. */
  lockSeconds: 60,
  /** Body plus properties. */
  maxMessageBytes: 64 * 1024,
});

/** Enqueued → Invisible (delivered, locked) → Completed or DeadLettered (expired, or delivered too often). */
export type CloudToDeviceState = "enqueued" | "invisible" | "completed" | "deadLettered";

export interface CloudToDeviceMessage {
  /** The hub's sequence number of the message. */
  sequenceNumber: number;
  hub: string;
  deviceId: string;
  messageId?: string;
  correlationId?: string;
  contentType?: string;
  contentEncoding?: string;
  /** Application properties. */
  properties: Record<string, string>;
  /** The body, base64. */
  bodyBase64: string;
  enqueuedTime: string;
  expiryTimeUtc: string;
  state: CloudToDeviceState;
  deliveryCount: number;
  lockedUntil?: string;
  completedTime?: string;
  deadLetteredTime?: string;
  deadLetterReason?: "expired" | "deliveryCountExceeded";
}

export interface CloudToDeviceInput {
  body: Buffer;
  messageId?: string | undefined;
  correlationId?: string | undefined;
  contentType?: string | undefined;
  contentEncoding?: string | undefined;
  properties?: Record<string, string> | undefined;
  /** Time to live; IoT Hub's default (1 hour) when absent. */
  ttlSeconds?: number | undefined;
}

const PROPERTY_NAME = /^[\w.\-~!*'()]{1,128}$/;

/** Checks what a sender asked for; throws a SimulatorError naming the bad part. */
function checkInput(input: CloudToDeviceInput): void {
  const invalid = (message: string) => serviceError("SIM_INVALID_REQUEST", "INVALID_MESSAGE", message);
  const { ttlSeconds, properties = {} } = input;
  if (
    ttlSeconds !== undefined &&
    (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > C2D_LIMITS.maxTtlSeconds)
  ) {
    throw invalid(
      `The time to live must be a whole number of seconds from 1 to ${C2D_LIMITS.maxTtlSeconds} (48 h).`,
    );
  }
  for (const [name, value] of Object.entries(properties)) {
    if (!PROPERTY_NAME.test(name) || name.startsWith("$") || name.toLowerCase().startsWith("iothub-")) {
      throw invalid(
        `Property name "${name.slice(0, 64)}" is not allowed: use 1-128 letters, digits or - _ . ~ ! * ' ( ), not starting with "$" or "iothub-".`,
      );
    }
    if (typeof value !== "string") throw invalid(`Property "${name}" must have a string value.`);
  }
  for (const [what, value] of [
    ["message id", input.messageId],
    ["correlation id", input.correlationId],
    ["content type", input.contentType],
    ["content encoding", input.contentEncoding],
  ] as const) {
    if (value !== undefined && (value === "" || value.length > 128)) {
      throw invalid(`The ${what} must be 1-128 characters.`);
    }
  }
  const size = input.body.length + Buffer.byteLength(JSON.stringify(properties));
  if (size > C2D_LIMITS.maxMessageBytes) {
    throw invalid(
      `The message is ${size} bytes; IoT Hub accepts at most ${C2D_LIMITS.maxMessageBytes} (body and properties).`,
    );
  }
}

/** The topic a message is delivered on: IoT Hub's property bag, every part URL-encoded (no raw `/`, `&` or `=`). */
export function deliveryTopic(message: CloudToDeviceMessage): string {
  const pairs: [string, string | undefined][] = [
    ["$.mid", message.messageId],
    ["$.to", `/devices/${message.deviceId}/messages/deviceBound`],
    ["$.cid", message.correlationId],
    ["$.exp", message.expiryTimeUtc],
    ["$.ct", message.contentType],
    ["$.ce", message.contentEncoding],
    ...Object.entries(message.properties),
  ];
  const bag = pairs
    .filter((pair): pair is [string, string] => pair[1] !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join("&");
  return `devices/${encodeURIComponent(message.deviceId)}/messages/devicebound/${bag}`;
}

const ACTIVE = "json_extract(doc, '$.state') IN ('enqueued', 'invisible')";

/** The cloud-to-device queues of the local hub's devices. */
export class CloudToDevice {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #link: (deviceId: string) => HubLink | undefined;

  constructor(options: {
    store: Store;
    clock: Clock;
    logger: Logger;
    link: (deviceId: string) => HubLink | undefined;
  }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#link = options.link;
  }

  #iso(at = this.#clock.now()): string {
    return azureTimestamp(at);
  }

  /** Queues a message for `deviceId` of `hub` and delivers it at once when the device listens. */
  send(hub: string, deviceId: string, input: CloudToDeviceInput): CloudToDeviceMessage {
    checkInput(input);
    this.#sweep(deviceId);
    const depth = this.#store
      .prepare(`SELECT count(*) AS n FROM c2d_messages WHERE device_id = ? AND ${ACTIVE}`)
      .get(deviceId) as { n: number };
    if (depth.n >= C2D_LIMITS.maxQueueDepth) {
      throw serviceError(
        "SIM_LIMIT_EXCEEDED",
        "DeviceMaximumQueueDepthExceeded",
        `Device "${deviceId}" already has ${C2D_LIMITS.maxQueueDepth} cloud-to-device messages waiting (IoT Hub's limit); ` +
          "wait until it receives them, or until they expire.",
      );
    }
    const now = this.#clock.now();
    const message: CloudToDeviceMessage = {
      sequenceNumber: 0,
      hub,
      deviceId,
      ...(input.messageId === undefined ? {} : { messageId: input.messageId }),
      ...(input.correlationId === undefined ? {} : { correlationId: input.correlationId }),
      ...(input.contentType === undefined ? {} : { contentType: input.contentType }),
      ...(input.contentEncoding === undefined ? {} : { contentEncoding: input.contentEncoding }),
      properties: { ...input.properties },
      bodyBase64: input.body.toString("base64"),
      enqueuedTime: this.#iso(now),
      expiryTimeUtc: this.#iso(now + (input.ttlSeconds ?? C2D_LIMITS.defaultTtlSeconds) * 1000),
      state: "enqueued",
      deliveryCount: 0,
    };
    const inserted = this.#store
      .prepare("INSERT INTO c2d_messages (hub, device_id, doc) VALUES (?, ?, ?)")
      .run(hub, deviceId, JSON.stringify(message));
    message.sequenceNumber = Number(inserted.lastInsertRowid);
    this.#put(message);
    this.#store.addEvent(message.enqueuedTime, "hub.c2dEnqueued", deviceId, {
      sequenceNumber: message.sequenceNumber,
      messageId: message.messageId ?? null,
      expiryTimeUtc: message.expiryTimeUtc,
    });
    this.deliver(deviceId);
    return this.#get(message.sequenceNumber) ?? message;
  }

  /** A device's messages, oldest first (expiries and lock timeouts applied first). */
  list(deviceId: string): CloudToDeviceMessage[] {
    this.#sweep(deviceId);
    return this.#messages(deviceId, "1 = 1");
  }

  /** Sends every enqueued message to the device, if it is connected and subscribed to its devicebound topic. */
  deliver(deviceId: string): void {
    this.#sweep(deviceId);
    const link = this.#link(deviceId);
    if (link === undefined || link.moduleId !== undefined || !link.subscribed("cloudToDevice")) return;
    for (const message of this.#messages(deviceId, "json_extract(doc, '$.state') = 'enqueued'")) {
      const locked: CloudToDeviceMessage = {
        ...message,
        state: "invisible",
        deliveryCount: message.deliveryCount + 1,
        lockedUntil: this.#iso(this.#clock.now() + C2D_LIMITS.lockSeconds * 1000),
      };
      this.#put(locked);
      const sent = link.send(
        "cloudToDevice",
        deliveryTopic(locked),
        Buffer.from(locked.bodyBase64, "base64"),
        () => this.#complete(locked.sequenceNumber),
      );
      if (!sent) {
        this.#put(message);
        return;
      }
    }
  }

  /** The device went away: what it had not acknowledged is enqueued again (or dead-lettered). */
  release(deviceId: string): void {
    for (const message of this.#messages(deviceId, "json_extract(doc, '$.state') = 'invisible'")) {
      this.#requeue(message);
    }
  }

  #complete(sequenceNumber: number): void {
    const message = this.#get(sequenceNumber);
    if (message === undefined || message.state !== "invisible") return;
    const { lockedUntil: _, ...rest } = message;
    const completed: CloudToDeviceMessage = { ...rest, state: "completed", completedTime: this.#iso() };
    this.#put(completed);
    this.#store.addEvent(completed.completedTime ?? "", "hub.c2dCompleted", message.deviceId, {
      sequenceNumber,
      messageId: message.messageId ?? null,
    });
  }

  #requeue(message: CloudToDeviceMessage): void {
    if (message.deliveryCount >= C2D_LIMITS.maxDeliveryCount) {
      this.#deadLetter(message, "deliveryCountExceeded");
      return;
    }
    const { lockedUntil: _, ...rest } = message;
    this.#put({ ...rest, state: "enqueued" });
  }

  /** Applies expiry and lock timeouts to a device's waiting messages. */
  #sweep(deviceId: string): void {
    const now = this.#clock.now();
    for (const message of this.#messages(deviceId, ACTIVE)) {
      if (Date.parse(message.expiryTimeUtc) <= now) this.#deadLetter(message, "expired");
      else if (message.state === "invisible" && Date.parse(message.lockedUntil ?? "") <= now) {
        this.#requeue(message);
      }
    }
  }

  #deadLetter(
    message: CloudToDeviceMessage,
    reason: NonNullable<CloudToDeviceMessage["deadLetterReason"]>,
  ): void {
    const { lockedUntil: _, ...rest } = message;
    const dead: CloudToDeviceMessage = {
      ...rest,
      state: "deadLettered",
      deadLetteredTime: this.#iso(),
      deadLetterReason: reason,
    };
    this.#put(dead);
    this.#logger.info("cloud-to-device message dead-lettered", {
      deviceId: message.deviceId,
      sequenceNumber: message.sequenceNumber,
      reason,
    });
    this.#store.addEvent(dead.deadLetteredTime ?? "", "hub.c2dDeadLettered", message.deviceId, {
      sequenceNumber: message.sequenceNumber,
      messageId: message.messageId ?? null,
      reason,
      deliveryCount: message.deliveryCount,
    });
  }

  #messages(deviceId: string, where: string): CloudToDeviceMessage[] {
    const rows = this.#store
      .prepare(`SELECT doc FROM c2d_messages WHERE device_id = ? AND ${where} ORDER BY id`)
      .all(deviceId) as { doc: string }[];
    return rows.map((row) => JSON.parse(row.doc) as CloudToDeviceMessage);
  }

  #get(sequenceNumber: number): CloudToDeviceMessage | undefined {
    const row = this.#store.prepare("SELECT doc FROM c2d_messages WHERE id = ?").get(sequenceNumber) as
      | { doc: string }
      | undefined;
    return row === undefined ? undefined : (JSON.parse(row.doc) as CloudToDeviceMessage);
  }

  #put(message: CloudToDeviceMessage): void {
    this.#store
      .prepare("UPDATE c2d_messages SET doc = ? WHERE id = ?")
      .run(JSON.stringify(message), message.sequenceNumber);
  }

  /** Forgets a deleted device's queue. */
  purge(deviceId: string): void {
    this.#store.prepare("DELETE FROM c2d_messages WHERE device_id = ?").run(deviceId);
  }
}
