// Connect-error cases every HubConnector must report the same way, run against skittle-sim by each adapter's tests.

import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { expect, it } from "vitest";
import type { HubConnector, HubCredentials } from "./connection.ts";
import { isHubClientError } from "./errors.ts";
import type { SimHub } from "./sim.test-support.ts";

/** A TCP server that accepts connections and never answers (a hub that hangs). */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ConnectErrorContext {
  simHub(): SimHub;
  devices(): { x509: HubCredentials; sas: HubCredentials & { type: "sas" } };
  /** The adapter under test with these options (no `ca` means the system roots). */
  connector(options: { ca?: string; connectTimeoutMs: number }): HubConnector;
}

/** Registers the shared connect-error tests (call inside a `describe`). */
export function connectErrorCases(context: ConnectErrorContext): void {
  const trusted = () => context.connector({ ca: context.simHub().ca, connectTimeoutMs: 20_000 });

  it("reports the hub's certificate as untrusted without the simulator's root, with Node's code as reason", async () => {
    const { x509 } = context.devices();
    const error = await context
      .connector({ connectTimeoutMs: 20_000 })
      .connect(x509)
      .catch((caught: unknown) => caught);
    expect(isHubClientError(error)).toBe(true);
    expect(error).toMatchObject({
      code: "HUB_TLS_UNTRUSTED",
      reason: "SELF_SIGNED_CERT_IN_CHAIN",
      deviceId: x509.deviceId,
      message: expect.stringContaining("pass its root as `ca`"),
    });
  });

  it("reports a refused SAS key as HUB_UNAUTHORIZED from the CONNACK code, without the key in the message", async () => {
    const wrongKey = Buffer.alloc(32, 9).toString("base64");
    const error = await trusted()
      .connect({ ...context.devices().sas, sharedAccessKey: wrongKey })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "HUB_UNAUTHORIZED", reason: "CONNACK 5" });
    expect(String((error as Error).message)).not.toContain(wrongKey);
  });

  it("reports a closed port as HUB_UNREACHABLE (ECONNREFUSED)", async () => {
    const server = await silentServer();
    await server.close();
    await expect(
      trusted().connect({ ...context.devices().sas, hostName: `localhost:${server.port}` }),
    ).rejects.toMatchObject({ code: "HUB_UNREACHABLE", reason: "ECONNREFUSED" });
  });

  it("gives up a connect the hub never answers with HUB_TIMEOUT", async () => {
    const server = await silentServer();
    try {
      await expect(
        context
          .connector({ ca: context.simHub().ca, connectTimeoutMs: 300 })
          .connect({ ...context.devices().sas, hostName: `localhost:${server.port}` }),
      ).rejects.toMatchObject({ code: "HUB_TIMEOUT" });
    } finally {
      await server.close();
    }
  });
}
