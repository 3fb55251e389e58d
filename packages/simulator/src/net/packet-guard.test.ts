import { Duplex } from "node:stream";
import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { guardConnection, MqttPacketSizeGuard } from "./packet-guard.ts";

/** A connection that records each write it is asked to make (one entry per write, its chunks joined). */
function recordingSocket(): { socket: Duplex; writes: string[] } {
  const writes: string[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk.toString());
      callback();
    },
    writev(chunks, callback) {
      writes.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()).join(""));
      callback();
    },
  });
  return { socket, writes };
}

/** A PUBLISH fixed header declaring `length` remaining bytes, then `body` bytes. */
function packet(length: number, body = length): Buffer {
  const header = [0x30];
  let value = length;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    header.push(byte);
  } while (value > 0);
  return Buffer.concat([Buffer.from(header), Buffer.alloc(body, 1)]);
}

describe("MqttPacketSizeGuard", () => {
  it("passes packets up to the limit, split anywhere across chunks", () => {
    const guard = new MqttPacketSizeGuard(1000);
    const stream = Buffer.concat([packet(0), packet(200), packet(1000), packet(5)]);
    for (let at = 0; at < stream.length; at += 7) {
      expect(guard.feed(stream.subarray(at, at + 7))).toBeUndefined();
    }
  });

  it("reports the first packet that declares more than the limit, before its body arrives", () => {
    const guard = new MqttPacketSizeGuard(1000);
    expect(guard.feed(packet(10))).toBeUndefined();
    const big = packet(300_000, 0);
    expect(guard.feed(big.subarray(0, 2))).toBeUndefined();
    expect(guard.feed(big.subarray(2))).toBe(300_000);
  });

  it("reports a corrupt remaining length", () => {
    const guard = new MqttPacketSizeGuard(1000);
    expect(guard.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff]))).toBe(-1);
  });
});

describe("guardConnection writes", () => {
  it("sends what the broker writes in one event-loop turn as one write (a PUBACK and the answer after it)", async () => {
    const { socket, writes } = recordingSocket();
    const conn = guardConnection(socket, 1000, () => {});
    conn.write(Buffer.from("puback"));
    conn.write(Buffer.from("publish-header"));
    conn.write(Buffer.from("publish-body"));
    await nextTurn();
    expect(writes).toEqual(["pubackpublish-headerpublish-body"]);
    conn.write(Buffer.from("next"));
    await nextTurn();
    expect(writes).toEqual(["pubackpublish-headerpublish-body", "next"]);
  });

  it("still sends what was written before the connection is destroyed (a CONNACK refusing it)", () => {
    const { socket, writes } = recordingSocket();
    const conn = guardConnection(socket, 1000, () => {});
    conn.write(Buffer.from("connack"));
    conn.destroy();
    expect(writes).toEqual(["connack"]);
  });
});
