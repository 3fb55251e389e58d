import { PassThrough } from "node:stream";
import { generate } from "mqtt-packet";
import { describe, expect, it } from "vitest";
import { isDpsUserName } from "./endpoints.ts";
import { readConnect } from "./first-packet.ts";
import { edgeListenError } from "./listen-errors.ts";

const connect = generate({
  cmd: "connect",
  protocolId: "MQTT",
  protocolVersion: 4,
  clean: true,
  clientId: "dev-1",
  keepalive: 60,
  username: "localhost/dev-1/?api-version=2021-04-12",
  password: Buffer.from("SharedAccessSignature sr=x"),
});
const subscribe = generate({
  cmd: "subscribe",
  messageId: 1,
  subscriptions: [{ topic: "$iothub/methods/POST/#", qos: 1 }],
});

/** Reads the rest of a stream, as the broker does ('readable' and read(), which a paused stream still serves). */
async function readAll(stream: PassThrough): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("readConnect", () => {
  it("reads a CONNECT that arrives in pieces, then replays every byte read, in order, to the next reader", async () => {
    const conn = new PassThrough();
    const packet = readConnect(conn, 5_000);
    const bytes = Buffer.concat([connect, subscribe]);
    conn.write(bytes.subarray(0, 3));
    conn.write(bytes.subarray(3, connect.length + 2)); // the CONNECT ends inside this chunk
    await expect(packet).resolves.toMatchObject({ cmd: "connect", clientId: "dev-1" });
    conn.end(bytes.subarray(connect.length + 2));
    expect((await readAll(conn)).equals(bytes)).toBe(true);
  });

  it("is undefined for a first packet other than CONNECT, for bytes that are not MQTT, and on a stream that ends", async () => {
    const notConnect = new PassThrough();
    const first = readConnect(notConnect, 5_000);
    notConnect.write(subscribe);
    await expect(first).resolves.toBeUndefined();

    const garbage = new PassThrough();
    const second = readConnect(garbage, 5_000);
    garbage.write(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
    await expect(second).resolves.toBeUndefined();

    const ended = new PassThrough();
    const third = readConnect(ended, 5_000);
    ended.end(connect.subarray(0, 4));
    await expect(third).resolves.toBeUndefined();
  });

  it("gives up on a connection that sends nothing within the timeout", async () => {
    await expect(readConnect(new PassThrough(), 1)).resolves.toBeUndefined();
  });
});

describe("isDpsUserName: which broker a CONNECT is for", () => {
  it.each([
    ["0ne00ABCDEF/registrations/dev-1/api-version=2019-03-31&ClientVersion=x", true],
    ["0ne00ABCDEF/registrations/dev-1/?api-version=2021-06-01", true],
    ["localhost/dev-1/?api-version=2021-04-12", false],
    ["localhost/dev-1/mod-1/?api-version=2021-04-12", false],
    // A hub module user name of a device called `registrations` has DPS's shape; the host name tells them apart.
    ["localhost/registrations/mod-1/?api-version=2021-04-12", false],
    ["nonsense", false],
    [undefined, false],
  ])("%s → DPS %s", (username, dps) => {
    expect(isDpsUserName(username)).toBe(dps);
  });
});

describe("edgeListenError", () => {
  const errno = (code: string) => Object.assign(new Error(`listen ${code}`), { code });

  it("EACCES names both usual fixes: setcap on node, or the unprivileged port sysctl", () => {
    const error = edgeListenError(errno("EACCES"), "127.0.0.1", 443, "HTTPS and MQTT over WebSocket");
    expect(error.code).toBe("SIM_LISTEN_FAILED");
    expect(error.message).toContain("127.0.0.1:443");
    expect(error.message).toContain(
      `sudo setcap 'cap_net_bind_service=+ep' "$(readlink -f "$(which node)")"`,
    );
    expect(error.message).toContain("sudo sysctl net.ipv4.ip_unprivileged_port_start=443");
  });

  it("EADDRINUSE names the port and what to do", () => {
    const error = edgeListenError(errno("EADDRINUSE"), "127.0.0.1", 8883, "MQTT over TLS");
    expect(error.message).toMatch(/port 8883 is in use/);
    expect(error.message).toContain("ss -ltnp");
    expect(error.message).toContain("without --edge");
  });
});
