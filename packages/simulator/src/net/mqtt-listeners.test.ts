import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { type AddressInfo, connect as connectTcp, type Socket } from "node:net";
import { connect, createServer as createTlsServer, type TLSSocket } from "node:tls";
import { noopLogger, systemClock } from "@skittlesorter/core";
import { tempDir } from "@skittlesorter/test-utils";
import { Aedes } from "aedes";
import { afterEach, describe, expect, it } from "vitest";
import { ensureTlsMaterial, type TlsMaterial } from "../state/pki.ts";
import { FileVault } from "../state/vault.ts";
import { startMqttListeners } from "./mqtt-listeners.ts";

/**
 * Node has no getter for TCP_NODELAY: a socket records whether it was set (by `setNoDelay` or a server's
 * `noDelay` option) under an internal symbol. Undefined when Node no longer has it, so the assertions fail rather
 * than pass.
 */
function noDelayOf(socket: Socket): boolean | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === "kSetNoDelay");
  return key === undefined ? undefined : (socket as unknown as Record<symbol, boolean>)[key];
}

/** Server-side sockets as TCP servers accept them (Node's `net.server.socket` diagnostics channel). */
function acceptedSockets(): Socket[] {
  const sockets: Socket[] = [];
  const onSocket = (message: unknown): void => {
    sockets.push((message as { socket: Socket }).socket);
  };
  subscribe("net.server.socket", onSocket);
  cleanups.push(() => unsubscribe("net.server.socket", onSocket));
  return sockets;
}

/** Connects with TLS and returns the server-side socket of that connection. */
async function serverSideOf(port: number, tls: TlsMaterial, accepted: Socket[]): Promise<Socket> {
  const client: TLSSocket = connect({ host: "127.0.0.1", port, ca: tls.rootPem, servername: "localhost" });
  cleanups.push(() => client.destroy());
  await new Promise<void>((resolve, reject) => {
    client.once("secureConnect", resolve);
    client.once("error", reject);
  });
  const socket = accepted.find((candidate) => candidate.remotePort === client.localPort);
  if (socket === undefined) throw new Error(`no accepted socket for client port ${client.localPort}`);
  return socket;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("startMqttListeners", () => {
  it("sets TCP_NODELAY on the MQTT (TLS) and WebSocket connections it accepts", async () => {
    const dir = await tempDir("skittle-sim-listeners-");
    cleanups.push(() => dir[Symbol.asyncDispose]());
    const tls = await ensureTlsMaterial(new FileVault(dir.path), { clock: systemClock });
    const accepted = acceptedSockets();

    // Control: a TLS server without the option leaves Nagle's algorithm on, and the probe sees it.
    const plain = createTlsServer({ cert: tls.certificateChainPem, key: tls.keyPem });
    cleanups.push(() => new Promise((resolve) => plain.close(resolve)));
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    const plainSide = await serverSideOf((plain.address() as AddressInfo).port, tls, accepted);
    expect(noDelayOf(plainSide)).toBe(false);

    const listeners = await startMqttListeners({
      label: "test",
      host: "127.0.0.1",
      port: 0,
      wsPort: 0,
      tls,
      maxPacketBytes: 1024,
      tlsHandshakeTimeoutMs: 10_000,
      logger: noopLogger,
      broker: await Aedes.createBroker(),
      identify: () => undefined,
    });
    cleanups.push(() => listeners.close());
    const mqttSide = await serverSideOf(listeners.port, tls, accepted);
    expect(noDelayOf(mqttSide)).toBe(true);
    const wsSide = await serverSideOf(listeners.wsPort, tls, accepted);
    expect(noDelayOf(wsSide)).toBe(true);
  });

  it("closes MQTT and WebSocket connections whose TLS handshake does not complete in time", async () => {
    const dir = await tempDir("skittle-sim-listeners-");
    cleanups.push(() => dir[Symbol.asyncDispose]());
    const tls = await ensureTlsMaterial(new FileVault(dir.path), { clock: systemClock });
    const listeners = await startMqttListeners({
      label: "test",
      host: "127.0.0.1",
      port: 0,
      wsPort: 0,
      tls,
      maxPacketBytes: 1024,
      tlsHandshakeTimeoutMs: 300,
      logger: noopLogger,
      broker: await Aedes.createBroker(),
      identify: () => undefined,
    });
    cleanups.push(() => listeners.close());
    const accepted = acceptedSockets();
    // A completed handshake is not subject to the timeout; it opens first, so its deadline would pass first.
    const secured = await serverSideOf(listeners.port, tls, accepted);

    // The first bytes of a TLS record carrying a ClientHello, then nothing more.
    const partialHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    const closes = [listeners.port, listeners.wsPort].flatMap((port) =>
      [undefined, partialHello].map((firstBytes) => {
        const raw = connectTcp({ host: "127.0.0.1", port });
        cleanups.push(() => raw.destroy());
        raw.on("error", () => {});
        if (firstBytes !== undefined) raw.write(firstBytes);
        return new Promise<string>((resolve) => raw.once("close", () => resolve("closed by the server")));
      }),
    );
    expect(await Promise.all(closes)).toEqual(Array(4).fill("closed by the server"));
    expect(secured.destroyed).toBe(false);
  });
});
