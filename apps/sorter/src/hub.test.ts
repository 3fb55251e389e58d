import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { createCertificateAuthority, generateKeyPair, issueCertificate } from "@skittlesorter/csr";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import type { Aedes, Client, PublishPacket } from "aedes";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialManager, CredentialStore, type DeviceCredentials } from "./credentials.ts";
import { fakeProvisioner } from "./fakes.test-support.ts";
import { azureHubConnector } from "./hub.ts";

interface Broker {
  port: number;
  connects: { clientId: string; username: string; peerCn: string | undefined }[];
  publishes: { topic: string; payload: string }[];
  refuse: boolean;
  close(): Promise<void>;
}

let serverTls: { cert: string; key: string; ca: string };
let credentials: DeviceCredentials;
let dir: TempDir;
let broker: Broker;

/** A loopback IoT Hub front: aedes over TLS asking for the client certificate (DESIGN §7). */
async function startBroker(): Promise<Broker> {
  const { Aedes: AedesClass } = await import("aedes");
  const state: Broker = { port: 0, connects: [], publishes: [], refuse: false, close: async () => undefined };
  const aedes: Aedes = await AedesClass.createBroker({
    authenticate(client: Client, username, _password, done) {
      const peer = (client.conn as unknown as TLSSocket).getPeerCertificate();
      const cn = peer?.subject?.CN;
      state.connects.push({
        clientId: client.id,
        username: username ?? "",
        peerCn: Array.isArray(cn) ? cn[0] : cn,
      });
      if (state.refuse) {
        done(Object.assign(new Error("Not authorized"), { returnCode: 5 }), false);
        return;
      }
      done(null, true);
    },
    authorizePublish(_client, packet: PublishPacket, callback) {
      state.publishes.push({
        topic: packet.topic,
        payload: Buffer.from(packet.payload as Buffer).toString("utf8"),
      });
      callback(null);
    },
  });
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer(
    { cert: serverTls.cert, key: serverTls.key, requestCert: true, rejectUnauthorized: false },
    (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
      aedes.handle(socket);
    },
  );
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

beforeAll(async () => {
  const root = await createCertificateAuthority({
    commonName: "Hub TLS Root",
    validityDays: 30,
    keyType: "ec-p256",
  });
  const serverKeys = await generateKeyPair("ec-p256");
  const cert = await issueCertificate({
    publicKey: serverKeys.publicKey,
    commonName: "localhost",
    issuer: { certificatePem: root.certificatePem, privateKey: root.privateKey },
    validityDays: 30,
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    extendedKeyUsage: ["serverAuth"],
  });
  serverTls = {
    cert,
    key: serverKeys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    ca: root.certificatePem,
  };
  dir = await tempDir("sorter-hub-");
  const fake = await fakeProvisioner();
  const manager = new CredentialManager({
    store: new CredentialStore({
      keyFile: join(dir.path, "k.pem"),
      chainFile: join(dir.path, "c.pem"),
      csrFile: join(dir.path, "r.pem"),
      metadataFile: join(dir.path, "m.json"),
    }),
    provisioner: fake.provisioner,
    registrationId: "hub-device-01",
    keyType: "ec-p256",
  });
  broker = await startBroker();
  credentials = { ...(await manager.ensure()).credentials, assignedHub: `localhost:${broker.port}` };
});

afterAll(async () => {
  await broker?.close();
  await dir?.[Symbol.asyncDispose]();
});

describe("azureHubConnector (the official azure-iot-device client over loopback TLS)", () => {
  it("connects with the issued certificate and sends telemetry with content type, encoding, id and colorAlert", async () => {
    const connection = await azureHubConnector({ ca: serverTls.ca, connectTimeoutMs: 10_000 }).connect(
      credentials,
    );
    try {
      const body = JSON.stringify({ messageId: 7, color: "Red" });
      await connection.send({
        messageId: "7",
        body,
        contentType: "application/json",
        contentEncoding: "utf-8",
        properties: { colorAlert: "detected" },
      });
      const connect = broker.connects.at(-1);
      expect(connect?.clientId).toBe("hub-device-01");
      expect(connect?.peerCn).toBe("hub-device-01");
      expect(connect?.username).toMatch(
        new RegExp(`^localhost:${broker.port}/hub-device-01/\\?api-version=`),
      );
      const telemetry = broker.publishes.find((p) =>
        p.topic.startsWith("devices/hub-device-01/messages/events/"),
      );
      expect(telemetry?.payload).toBe(body);
      const bag = new URLSearchParams(
        telemetry?.topic.slice("devices/hub-device-01/messages/events/".length),
      );
      expect(bag.get("$.ct")).toBe("application/json");
      expect(bag.get("$.ce")).toBe("utf-8");
      expect(bag.get("$.mid")).toBe("7");
      expect(bag.get("colorAlert")).toBe("detected");
    } finally {
      await connection.close();
      await connection.close();
    }
  });

  it("reports a refused certificate as HUB_UNAUTHORIZED (the app then provisions again)", async () => {
    broker.refuse = true;
    try {
      await expect(
        azureHubConnector({ ca: serverTls.ca, connectTimeoutMs: 10_000 }).connect(credentials),
      ).rejects.toMatchObject({
        code: "HUB_UNAUTHORIZED",
      });
    } finally {
      broker.refuse = false;
    }
  });

  it("reports an untrusted hub certificate as HUB_TLS_UNTRUSTED with the fix", async () => {
    await expect(azureHubConnector({ connectTimeoutMs: 10_000 }).connect(credentials)).rejects.toMatchObject({
      code: "HUB_TLS_UNTRUSTED",
      message: expect.stringContaining("Certificates.TrustedCaFile"),
    });
  });
});
