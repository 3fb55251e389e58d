import type { Logger } from "@skittlesorter/core";
import { publishOn } from "./connection.ts";
import { messageOf } from "./errors.ts";
import { decodePayload, methodResponseTopic } from "./protocol.ts";
import type { Session } from "./session-keeper.ts";

export interface MethodRequest {
  name: string;
  /** The JSON payload (or the text when it is not JSON; `undefined` when empty). */
  payload: unknown;
  requestId: string;
}

export interface MethodResponse {
  /** The status the caller of the method sees, e.g. 200. */
  status: number;
  /** JSON-serialisable. */
  payload?: unknown;
}

export type MethodHandler = (request: MethodRequest) => MethodResponse | Promise<MethodResponse>;

/** Runs the handler of a direct method call and publishes its response (404 without a handler, 500 when it fails). */
export async function handleMethod(
  methods: ReadonlyMap<string, MethodHandler>,
  logger: Logger,
  session: Session,
  name: string,
  rid: string,
  payload: Buffer,
): Promise<void> {
  const handler = methods.get(name);
  let response: MethodResponse;
  if (handler === undefined) {
    response = { status: 404, payload: { message: `The device does not implement method "${name}".` } };
  } else {
    try {
      response = await handler({ name, payload: decodePayload(payload), requestId: rid });
      if (!Number.isInteger(response?.status)) throw new TypeError("the handler returned no integer status");
    } catch (error) {
      logger.warn("hub method handler failed", { method: name, error: messageOf(error) });
      response = { status: 500, payload: { message: `Method "${name}" failed on the device.` } };
    }
  }
  const body = response.payload === undefined ? "" : JSON.stringify(response.payload);
  if (session.lost.signal.aborted) {
    logger.warn("hub method response dropped: the connection it came on is gone", {
      method: name,
    });
    return;
  }
  try {
    await publishOn(session.client, methodResponseTopic(response.status, rid), body, 0);
  } catch (error) {
    logger.warn("hub method response failed", { method: name, error: messageOf(error) });
  }
}
