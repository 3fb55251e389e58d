import { readFile } from "node:fs/promises";
import { request as httpsRequest, type RequestOptions } from "node:https";
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

function httpsGet(options: RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(options, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    // An upgrade refused with a plain HTTP answer ends here, without an 'upgrade' event.
    request.on("error", reject);
    request.end();
  });
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

  it("443 is the Azure REST router (JSON answers by path) and MQTT over WebSocket only at /$iothub/websocket", {
    timeout: 60_000,
  }, async () => {
    await using _sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    // No port, no ca: NODE_EXTRA_CA_CERTS, as the official HTTPS clients dial.
    const response = await httpsGet({ host: "localhost", path: "/no-such-api?api-version=2021-04-12" });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: "NOT_FOUND" } });
    const upgrade = await httpsGet({
      host: "localhost",
      path: "/other/websocket",
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    expect(upgrade.status).toBe(404);
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
    let adminPort: string;
    {
      await using again = await startEdgeSimulator({ tlsRoot: root, dataDir: dir.path });
      adminPort = new URL(again.config.http.url).port;
      expect(adminPort).toMatch(/^\d+$/);
    }
    await using sim = await startSimulator({ dataDir: dir.path });
    expect(new URL(sim.config.http.url).port).toBe(adminPort); // the admin port is remembered, the edge ports are not
    const [hub] = sim.config.hubs;
    expect(sim.config.edge).toBe(false);
    expect(sim.config.dps.port).not.toBe(8883);
    expect(sim.config.https.port).not.toBe(443);
    expect(hub?.hostname).toBe(`localhost:${hub?.port}`);
    expect(sim.config.trustedCa).not.toBe(root.certificatePem); // the data directory's own root again
  });
});
