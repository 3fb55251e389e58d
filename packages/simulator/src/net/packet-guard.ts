import { Duplex } from "node:stream";

/**
 * Follows MQTT framing (fixed header byte, 1–4 byte "remaining length", body) over a byte stream and reports
 * a packet that declares more than `maxPacketBytes` as soon as its header arrives, before the broker buffers it.
 */
export class MqttPacketSizeGuard {
  readonly maxPacketBytes: number;
  #state: "type" | "length" | "body" = "type";
  #length = 0;
  #lengthBytes = 0;
  #remaining = 0;

  constructor(maxPacketBytes: number) {
    this.maxPacketBytes = maxPacketBytes;
  }

  /** Feeds bytes; returns the declared size of the first packet over the limit (or -1 for a corrupt length), else undefined. */
  feed(chunk: Uint8Array): number | undefined {
    let index = 0;
    while (index < chunk.length) {
      if (this.#state === "type") {
        index++;
        this.#state = "length";
        this.#length = 0;
        this.#lengthBytes = 0;
        continue;
      }
      if (this.#state === "length") {
        const byte = chunk[index++] ?? 0;
        this.#length += (byte & 0x7f) * 128 ** this.#lengthBytes;
        this.#lengthBytes++;
        if (byte & 0x80) {
          if (this.#lengthBytes >= 4) return -1;
          continue;
        }
        if (this.#length > this.maxPacketBytes) return this.#length;
        this.#remaining = this.#length;
        this.#state = this.#remaining === 0 ? "type" : "body";
        continue;
      }
      const take = Math.min(this.#remaining, chunk.length - index);
      index += take;
      this.#remaining -= take;
      if (this.#remaining === 0) this.#state = "type";
    }
    return undefined;
  }
}

/**
 * Wraps a connection so that a packet declaring more than `maxPacketBytes` closes it (calling
 * `onOversize` first) instead of being buffered. Reads and writes pass through unchanged.
 */
export function guardConnection(
  socket: Duplex,
  maxPacketBytes: number,
  onOversize: (declaredBytes: number) => void,
): Duplex {
  const guard = new MqttPacketSizeGuard(maxPacketBytes);
  // Whatever the broker writes in one event-loop turn (e.g. a PUBACK and the answer it publishes) leaves as one
  // socket write, so one TLS record, instead of one per packet or per piece of a packet.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  const send = (chunks: readonly Buffer[], callback: (error?: Error | null) => void): void => {
    if (socket.destroyed) {
      callback();
      return;
    }
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    let flowing = true;
    for (const chunk of chunks) flowing = socket.write(chunk);
    if (flowing) callback();
    else socket.once("drain", () => callback());
  };
  const wrapper = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      send([chunk], callback);
    },
    writev(chunks, callback) {
      send(
        chunks.map(({ chunk }) => chunk as Buffer),
        callback,
      );
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      // What was written before (e.g. a CONNACK refusing the connection) still goes out first.
      if (corked) uncork();
      socket.destroy();
      callback(error);
    },
  });
  socket.on("data", (chunk: Buffer) => {
    const over = guard.feed(chunk);
    if (over !== undefined) {
      onOversize(over);
      socket.destroy();
      return;
    }
    if (!wrapper.push(chunk)) socket.pause();
  });
  socket.on("end", () => wrapper.push(null));
  socket.on("error", (error) => wrapper.destroy(error));
  socket.on("close", () => {
    if (!wrapper.destroyed) wrapper.destroy();
  });
  return wrapper;
}
