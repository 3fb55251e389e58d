// IoT Hub direct methods: a call goes to the device's `$iothub/methods/POST/{name}` and waits for its answer.
import type { Logger } from "@skittlesorter/core";
import { serviceError } from "../errors.ts";
import type { HubLink } from "./service.ts";

interface PendingMethod {
  deviceId: string;
  resolve(answer: { status: number; payload: unknown }): void;
}

/** Calls in flight, by request id. */
export class DirectMethods {
  readonly #pending = new Map<string, PendingMethod>();
  readonly #link: (deviceId: string) => HubLink | undefined;
  readonly #logger: Logger;
  readonly #recordInvoked: (deviceId: string, methodName: string) => void;
  #requestCounter = 0;

  constructor(options: {
    link: (deviceId: string) => HubLink | undefined;
    logger: Logger;
    recordInvoked: (deviceId: string, methodName: string) => void;
  }) {
    this.#link = options.link;
    this.#logger = options.logger;
    this.#recordInvoked = options.recordInvoked;
  }

  /**
   * Invokes a direct method and resolves with the device's `{status, payload}`. Rejects with a SimulatorError:
   * `SIM_DEVICE_NOT_ONLINE` (not connected, or not subscribed to `$iothub/methods/POST/#`, within
   * `connectTimeoutMs`), `SIM_TIMEOUT` (no answer within `responseTimeoutMs`).
   */
  async invoke(
    deviceId: string,
    methodName: string,
    payload: unknown,
    options: { responseTimeoutMs: number; connectTimeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<{ status: number; payload: unknown }> {
    const link = await this.#waitForMethodsLink(deviceId, options.connectTimeoutMs, options.signal);
    if (link === undefined) {
      throw serviceError(
        "SIM_DEVICE_NOT_ONLINE",
        "DEVICE_NOT_ONLINE",
        `Device "${deviceId}" is not online for direct methods: it is not connected, or has not subscribed to $iothub/methods/POST/# ` +
          "(with the Node SDK: client.onDeviceMethod). Retry when it is, or pass connectTimeoutInSeconds.",
      );
    }
    const rid = (++this.#requestCounter).toString(16);
    const body = Buffer.from(JSON.stringify(payload ?? null));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        reject(
          serviceError(
            "SIM_TIMEOUT",
            "METHOD_TIMEOUT",
            `Device "${deviceId}" did not answer method "${methodName}" within ${options.responseTimeoutMs / 1000} s; ` +
              "raise responseTimeoutInSeconds or check the device's method handler.",
          ),
        );
      }, options.responseTimeoutMs);
      this.#pending.set(rid, {
        deviceId,
        resolve: (answer) => {
          clearTimeout(timer);
          this.#pending.delete(rid);
          resolve(answer);
        },
      });
      this.#recordInvoked(deviceId, methodName);
      link.send("methods", `$iothub/methods/POST/${methodName}/?$rid=${rid}`, body);
    });
  }

  async #waitForMethodsLink(
    deviceId: string,
    connectTimeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<HubLink | undefined> {
    const ready = (): HubLink | undefined => {
      const link = this.#link(deviceId);
      return link?.subscribed("methods") ? link : undefined;
    };
    const deadline = Date.now() + connectTimeoutMs;
    let link = ready();
    while (link === undefined && Date.now() < deadline && signal?.aborted !== true) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now()))));
      link = ready();
    }
    return link;
  }

  /** A device's answer on `$iothub/methods/res/{status}/?$rid=…`; answers to no pending call are ignored. */
  answer(deviceId: string, status: number, query: URLSearchParams, payload: Buffer): void {
    const rid = query.get("$rid") ?? "";
    const pending = this.#pending.get(rid);
    if (pending === undefined || pending.deviceId !== deviceId) {
      this.#logger.debug("method response for no pending request ignored", {
        deviceId,
        rid,
      });
      return;
    }
    const text = payload.toString("utf8");
    let parsed: unknown = null;
    if (text.trim() !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    pending.resolve({ status, payload: parsed });
  }

  /** Answers every pending call 503 (shutdown). */
  close(): void {
    for (const [rid, pending] of this.#pending) {
      this.#pending.delete(rid);
      pending.resolve({ status: 503, payload: { message: "the simulator is stopping" } });
    }
  }
}
