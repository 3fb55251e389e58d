import { createPublicKey } from "node:crypto";
import { join } from "node:path";
import { HubClientError, type HubConnector, type RenewCertificate } from "@skittlesorter/hub-client";
import { MemoryHub } from "@skittlesorter/hub-client/testing";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialManager, CredentialStore, type DeviceCredentials } from "./credentials.ts";
import { isSorterError } from "./errors.ts";
import { fakeProvisioner } from "./fakes.test-support.ts";
import { sorterHubConnector, toSorterError } from "./hub.ts";

let dir: TempDir;
let credentials: DeviceCredentials;

beforeAll(async () => {
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
  credentials = (await manager.ensure()).credentials;
});

afterAll(async () => {
  await dir?.[Symbol.asyncDispose]();
});

describe("sorterHubConnector", () => {
  it("connects with the issued certificate to the assigned hub", async () => {
    const hub = new MemoryHub();
    const connection = await sorterHubConnector(hub).connect(credentials);
    await connection.send({ body: "{}", messageId: "1", properties: { colorAlert: "detected" } });
    await connection.close();
    expect(hub.messages).toMatchObject([
      {
        deviceId: "hub-device-01",
        authentication: "x509",
        thumbprint: credentials.certificate.sha256Thumbprint,
        properties: { colorAlert: "detected" },
      },
    ]);
  });

  it("reports a refused certificate and a lost connection as SorterErrors with what the sorter does next", async () => {
    const hub = new MemoryHub();
    const connection = await sorterHubConnector(hub).connect(credentials);
    const lost: unknown[] = [];
    connection.onDisconnect((error) => lost.push(error));
    hub.setDown(true);
    expect(lost).toHaveLength(1);
    expect(isSorterError(lost[0])).toBe(true);
    expect(lost[0]).toMatchObject({ code: "HUB_UNREACHABLE", message: expect.stringContaining("outbox") });
    await expect(connection.send({ body: "{}" })).rejects.toSatisfy(isSorterError);
    hub.setDown(false);

    hub.refuse(credentials.certificate.sha256Thumbprint);
    await expect(sorterHubConnector(hub).connect(credentials)).rejects.toMatchObject({
      code: "HUB_UNAUTHORIZED",
      message: expect.stringContaining("provisions again"),
    });
  });

  it("names the sorter's setting for an untrusted hub certificate and passes an abort's reason unchanged", () => {
    const untrusted = toSorterError(
      new HubClientError("HUB_TLS_UNTRUSTED", "The IoT Hub's TLS certificate is not trusted."),
    );
    expect(untrusted).toMatchObject({
      code: "HUB_TLS_UNTRUSTED",
      message: expect.stringContaining("Certificates.TrustedCaFile"),
    });
    expect(toSorterError(new HubClientError("HUB_THROTTLED", "slow down")).code).toBe("HUB_UNREACHABLE");
    const reason = new Error("stopped");
    expect(toSorterError(reason)).toBe(reason);
  });

  it("passes hub renewal through when the client has it: refusals are HUB_RENEWAL_REFUSED, outages stay transient", async () => {
    const hub = new MemoryHub();
    expect((await sorterHubConnector(hub).connect(credentials)).renewCertificate).toBeUndefined();

    let failure: HubClientError | undefined;
    const renewing: HubConnector = {
      async connect(hubCredentials, options) {
        const connection = await hub.connect(hubCredentials, options);
        const renewCertificate: RenewCertificate = async () => {
          if (failure !== undefined) throw failure;
          return {
            certificatePem: credentials.chainPem,
            notAfter: credentials.certificate.notAfter,
            requestId: "r-1",
            correlationId: undefined,
          };
        };
        return Object.assign(connection, { renewCertificate });
      },
    };
    const connection = await sorterHubConnector(renewing).connect(credentials);
    const csr = { wire: "unused", publicKey: createPublicKey(credentials.privateKeyPem) };
    expect(await connection.renewCertificate?.(csr)).toMatchObject({ requestId: "r-1" });
    for (const [code, reason] of [
      ["HUB_REJECTED", "HUB_RENEWAL_UNSUPPORTED"],
      ["HUB_INVALID_OPTION", "HUB_INVALID_OPTIONS"],
      ["HUB_UNAUTHORIZED", undefined],
    ] as const) {
      failure = new HubClientError(code, "no", { reason });
      await expect(connection.renewCertificate?.(csr)).rejects.toMatchObject({
        name: "SorterError",
        code: "HUB_RENEWAL_REFUSED",
        message: expect.stringContaining("provisions through DPS"),
      });
    }
    failure = new HubClientError("HUB_TIMEOUT", "no answer");
    await expect(connection.renewCertificate?.(csr)).rejects.toMatchObject({ code: "HUB_TIMEOUT" });
    failure = new HubClientError("HUB_THROTTLED", "slow down");
    await expect(connection.renewCertificate?.(csr)).rejects.toMatchObject({ code: "HUB_UNREACHABLE" });
  });
});
