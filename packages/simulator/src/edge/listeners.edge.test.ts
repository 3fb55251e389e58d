import { readFile } from "node:fs/promises";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tempDir } from "@skittlesorter/test-utils";
import { edgeTlsRoot } from "@skittlesorter/test-utils/edge";
import { generate } from "mqtt-packet";
import { describe, expect, it } from "vitest";
import { startSimulator } from "../simulator.ts";
import { startEdgeSimulator } from "../testing/index.ts";

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once("close", () => resolve());
  });
}

async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

function tlsToEdge(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "localhost", port: 8883 }, () => resolve(socket));
    socket.once("error", reject);
  });
}

describe("edge listeners", () => {
  it.each([
    [8883, "MQTT over TLS"],
    [443, "HTTPS and MQTT over WebSocket"],
  ])(
    "a taken port %i fails the start with SIM_LISTEN_FAILED naming it; nothing stays bound",
    {
      timeout: 60_000,
    },
    async (port, what) => {
      const blocker = await occupy(port);
      try {
        await expect(startEdgeSimulator({ tlsRoot: edgeTlsRoot() })).rejects.toMatchObject({
          code: "SIM_LISTEN_FAILED",
          message: expect.stringMatching(
            new RegExp(`127\\.0\\.0\\.1:${port} \\(${what}.*port ${port} is in use`),
          ),
        });
      } finally {
        await new Promise((resolve) => blocker.close(resolve));
      }
      // The failed start released what it had bound: a start now succeeds.
      await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
      expect(sim.config.https.url).toBe("https://localhost");
    },
  );

  it("keeps the MQTT guards on 8883: the TLS handshake timeout, the packet size limit, CONNECT first", {
    timeout: 60_000,
  }, async () => {
    await using _sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot(), tlsHandshakeTimeoutMs: 200 });
    const silent = netConnect({ host: "127.0.0.1", port: 8883 });
    silent.on("error", () => {});
    await closed(silent); // never sends a ClientHello: closed after 200 ms

    const oversize = await tlsToEdge();
    oversize.on("error", () => {});
    oversize.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f])); // a CONNECT declaring ~256 MiB
    await closed(oversize);

    const notConnect = await tlsToEdge();
    notConnect.on("error", () => {});
    notConnect.write(generate({ cmd: "pingreq" }));
    await closed(notConnect);
  });

  it("sim.json in edge mode: bare localhost everywhere, the given root; a later start without edge keeps free ports", {
    timeout: 60_000,
  }, async () => {
    await using dir = await tempDir("skittle-sim-edge-");
    const root = edgeTlsRoot();
    {
      await using sim = await startEdgeSimulator({ tlsRoot: root, dataDir: dir.path });
      const config = JSON.parse(await readFile(sim.configFile, "utf8"));
      expect(config).toMatchObject({
        edge: true,
        dps: {
          host: "localhost",
          port: 8883,
          endpoint: "localhost",
          wsUrl: "wss://localhost/$iothub/websocket",
        },
        hubs: [
          {
            hostname: "localhost",
            host: "localhost",
            port: 8883,
            wsUrl: "wss://localhost/$iothub/websocket",
          },
        ],
        https: { port: 443, url: "https://localhost" },
        trustedCa: root.certificatePem,
      });
      expect(await readFile(config.trustedCaFile, "utf8")).toBe(root.certificatePem);
    }
    await using sim = await startSimulator({ dataDir: dir.path });
    const [hub] = sim.config.hubs;
    expect(sim.config.edge).toBe(false);
    expect(sim.config.dps.port).not.toBe(8883);
    expect(sim.config.https.port).not.toBe(443);
    expect(hub?.hostname).toBe(`localhost:${hub?.port}`);
    expect(sim.config.trustedCa).not.toBe(root.certificatePem); // the data directory's own root again
  });
});
