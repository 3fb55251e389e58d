// Edge mode: Azure's ports on one host name, as LocalStack serves every service on one edge port. 8883 carries
// MQTT over TLS for DPS and the hub; 443 carries the HTTPS REST APIs and MQTT over WebSocket for both. Each MQTT
// connection goes to the DPS or the hub broker by the user name of its CONNECT.
import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { Logger } from "@skittlesorter/core";
import { parseUserName } from "../dps/protocol.ts";
import {
  closeBroker,
  handOver,
  listen,
  type MqttBackend,
  type MqttTransport,
  mqttTlsOptions,
  mqttWebSocketUpgrade,
} from "../net/mqtt-listeners.ts";
import { guardConnection } from "../net/packet-guard.ts";
import type { TlsMaterial } from "../state/pki.ts";
import { readConnect } from "./first-packet.ts";
import { edgeListenError } from "./listen-errors.ts";

/** The host name clients use in edge mode: every hub's `hostname`, DPS `assignedHub`, the TLS name. */
export const EDGE_HOST_NAME = "localhost";
/** MQTT over TLS, DPS and IoT Hub. */
export const EDGE_MQTT_PORT = 8883;
/** HTTPS (the Azure REST APIs) and MQTT over WebSocket at `/$iothub/websocket`, DPS and IoT Hub. */
export const EDGE_HTTPS_PORT = 443;
/** A connection whose CONNECT has not arrived this long after it opened is closed (aedes' own CONNECT timeout). */
const CONNECT_TIMEOUT_MS = 10_000;

export interface EdgeMqttOptions {
  host: string;
  tls: TlsMaterial;
  logger: Logger;
  maxPacketBytes: number;
  tlsHandshakeTimeoutMs: number;
  /** The HTTPS server already listening on 443: MQTT over WebSocket joins it. */
  httpsServer: Server;
  dps: MqttBackend;
  hub: MqttBackend;
  /** Where the MQTT/TLS listener binds; {@link EDGE_MQTT_PORT} unless a test says otherwise. */
  mqttPort?: number;
}

/**
 * DPS when the user name is `{idScope}/registrations/{registrationId}/api-version=…`; everything else goes to the
 * hub (`{hostname}/{deviceId}[/{moduleId}]/?api-version=…`), which refuses what it cannot parse. A hub user name
 * for a device called `registrations` with a module looks like a DPS one but starts with the hub's host name.
 */
export function isDpsUserName(username: string | undefined): boolean {
  const first = username?.split("/")[0]?.toLowerCase();
  return parseUserName(username) !== undefined && first !== EDGE_HOST_NAME;
}

/** Starts the MQTT/TLS listener on 8883 and MQTT over WebSocket on the HTTPS server; `close` also closes both brokers. */
export async function startEdgeMqtt(options: EdgeMqttOptions): Promise<{ close(): Promise<void> }> {
  const { logger } = options;
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const route = async (
    conn: Duplex,
    socket: TLSSocket,
    transport: MqttTransport,
    request?: IncomingMessage,
  ): Promise<void> => {
    const connect = await readConnect(conn, CONNECT_TIMEOUT_MS);
    if (connect === undefined) {
      logger.debug("edge connection closed: its first packet is not an MQTT CONNECT", { transport });
      conn.destroy();
      return;
    }
    handOver(isDpsUserName(connect.username) ? options.dps : options.hub, conn, socket, transport, request);
  };

  const tlsServer = createTlsServer(mqttTlsOptions(options.tls, options.tlsHandshakeTimeoutMs), (socket) => {
    const conn = guardConnection(socket, options.maxPacketBytes, (declared) => {
      logger.warn("edge MQTT connection closed: MQTT packet too large", {
        declaredBytes: declared,
        limitBytes: options.maxPacketBytes,
      });
    });
    void route(conn, socket, "mqtt");
  });
  tlsServer.on("connection", track);
  tlsServer.on("tlsClientError", (error, socket) => {
    logger.debug("edge MQTT TLS handshake failed", { error: error.message });
    socket.destroy();
  });

  const { wss, onUpgrade } = mqttWebSocketUpgrade(options.maxPacketBytes, (conn, socket, request) => {
    track(socket);
    void route(conn, socket, "mqtt-ws", request);
  });
  options.httpsServer.on("upgrade", onUpgrade);

  const closeBrokers = (): Promise<unknown> =>
    Promise.all([closeBroker(options.dps), closeBroker(options.hub)]);
  const port = options.mqttPort ?? EDGE_MQTT_PORT;
  try {
    await listen(tlsServer, port, options.host, "MQTT");
  } catch (error) {
    options.httpsServer.off("upgrade", onUpgrade);
    await closeBrokers();
    throw edgeListenError(
      (error as Error).cause as NodeJS.ErrnoException,
      options.host,
      port,
      "MQTT over TLS for DPS and IoT Hub",
    );
  }
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        options.httpsServer.off("upgrade", onUpgrade);
        const closed = new Promise<void>((resolve) => tlsServer.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        for (const client of wss.clients) client.terminate();
        wss.close();
        await closed;
        await closeBrokers();
      })();
      return closing;
    },
  };
}
