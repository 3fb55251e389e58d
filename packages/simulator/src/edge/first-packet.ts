// Edge mode serves DPS and the hub on one port: the first MQTT packet (CONNECT) of a connection says which.
import type { Duplex } from "node:stream";
import { type IConnectPacket, parser } from "mqtt-packet";

/**
 * Reads a connection's first MQTT packet, then puts every byte read back (`unshift`), so the broker it is handed to
 * reads the connection from its start. Resolves to the CONNECT packet; undefined when the first packet is another
 * one, cannot be parsed, or has not arrived within `timeoutMs`, or the connection ends first.
 */
export function readConnect(conn: Duplex, timeoutMs: number): Promise<IConnectPacket | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const packets = parser();
    let settled = false;
    const finish = (packet: IConnectPacket | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Paused, with the bytes read back in front: the broker's own reader starts from the CONNECT.
      conn.pause();
      conn.off("data", onData);
      conn.off("end", onEnd);
      conn.off("close", onEnd);
      if (packet !== undefined && chunks.length > 0) conn.unshift(Buffer.concat(chunks));
      resolve(packet);
    };
    const onEnd = (): void => finish(undefined);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      packets.parse(chunk);
    };
    packets.on("packet", (packet) =>
      finish(packet.cmd === "connect" ? (packet as IConnectPacket) : undefined),
    );
    packets.on("error", () => finish(undefined));
    const timer = setTimeout(onEnd, timeoutMs);
    conn.on("data", onData);
    conn.once("end", onEnd);
    conn.once("close", onEnd);
  });
}
