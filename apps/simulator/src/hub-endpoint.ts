import type { AddressInfo, Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Logger } from "@skittlesorter/core";
import { Aedes, type AuthenticateError } from "aedes";
import type { TlsMaterial } from "./pki.ts";

export interface HubEndpoint {
  port: number;
  close(): Promise<void>;
}

/**
 * The linked hub's MQTT port. Part 1 holds the port (so `assignedHub` is stable) and answers every CONNECT
 * with "server unavailable" (CONNACK 3); the IoT Hub front end replaces this module.
 */
export async function startHubEndpoint(options: {
  host: string;
  port: number;
  tls: TlsMaterial;
  logger: Logger;
}): Promise<HubEndpoint> {
  const broker = await Aedes.createBroker({
    maxClientsIdLength: 256,
    connectTimeout: 10_000,
    authenticate(client, _username, _password, done) {
      options.logger.info("IoT Hub connection refused: the hub endpoint is not implemented yet", {
        clientId: client.id,
      });
      done(Object.assign(new Error("IoT Hub not available"), { returnCode: 3 }) as AuthenticateError, false);
    },
  });
  const sockets = new Set<Socket>();
  const server = createTlsServer(
    {
      cert: options.tls.certificateChainPem,
      key: options.tls.keyPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      handshakeTimeout: 10_000,
    },
    (socket) => {
      socket.on("error", () => {});
      broker.handle(socket);
    },
  );
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("tlsClientError", () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            error.code === "EADDRINUSE"
              ? `The IoT Hub port ${options.host}:${options.port} is in use; pick another port or 0 for any free one.`
              : `Cannot listen on ${options.host}:${options.port} for the IoT Hub: ${error.message}`,
            { cause: error },
          ),
        ),
      );
      server.listen(options.port, options.host, resolve);
    });
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await closed;
      })();
      return closing;
    },
  };
}
