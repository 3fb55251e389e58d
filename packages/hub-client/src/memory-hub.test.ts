import { describe, expect, it } from "vitest";
import { isHubClientError } from "./index.ts";
import { hubClientConformance, MemoryHub } from "./testing.ts";
import { throwawayDeviceCertificate } from "./x509.test-support.ts";

describe("MemoryHub: hub client conformance", () => {
  for (const check of hubClientConformance(async () => {
    const hub = new MemoryHub();
    hub.refuse("refused-device");
    const credentials = {
      type: "sas",
      hostName: "memory",
      deviceId: "device-1",
      sharedAccessKey: "a2V5",
    } as const;
    return {
      connector: hub,
      credentials,
      refusedCredentials: { ...credentials, deviceId: "refused-device" },
      telemetry: async () => hub.messages,
      reported: async () => hub.reportedOf("device-1"),
      pushDesired: async (patch) => hub.pushDesired(patch, "device-1"),
      invoke: (name, payload) => hub.invoke(name, payload, "device-1"),
      interrupt: async () => {
        hub.setDown(true);
        hub.setDown(false);
      },
    };
  })) {
    it(check.name, () => check.run());
  }
});

describe("MemoryHub", () => {
  it("identifies X.509 devices by their certificate's thumbprint and refuses a revoked one", async () => {
    const { certificatePem, privateKeyPem } = await throwawayDeviceCertificate("x509-device");
    const hub = new MemoryHub();
    const credentials = {
      type: "x509",
      hostName: "memory",
      deviceId: "x509-device",
      certificatePem,
      privateKeyPem,
    } as const;
    const connection = await hub.connect(credentials);
    const lost: unknown[] = [];
    connection.onDisconnect((error) => lost.push(error));
    await connection.send({ body: "{}", messageId: "1" });
    const thumbprint = hub.messages[0]?.thumbprint ?? "";
    expect(thumbprint).toMatch(/^[0-9A-F]{64}$/);
    expect(hub.messages[0]).toMatchObject({ deviceId: "x509-device", authentication: "x509" });

    hub.refuse(thumbprint.toLowerCase());
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ code: "HUB_UNAUTHORIZED" });
    await expect(hub.connect(credentials)).rejects.toMatchObject({ code: "HUB_UNAUTHORIZED" });
    expect(hub.connects.map((attempt) => [attempt.accepted, attempt.reason])).toEqual([
      [true, undefined],
      [false, "refused"],
    ]);
  });

  it("refuses unusable credentials with HUB_INVALID_OPTION naming the field", async () => {
    const hub = new MemoryHub();
    const sas = { type: "sas", hostName: "memory", deviceId: "d", sharedAccessKey: "" } as const;
    await expect(hub.connect(sas)).rejects.toSatisfy(
      (error) =>
        isHubClientError(error) &&
        error.code === "HUB_INVALID_OPTION" &&
        /sharedAccessKey/.test(error.message),
    );
    await expect(
      hub.connect({
        type: "x509",
        hostName: "memory",
        deviceId: "d",
        certificatePem: "nope",
        privateKeyPem: "nope",
      }),
    ).rejects.toMatchObject({
      code: "HUB_INVALID_OPTION",
      message: expect.stringContaining("certificatePem"),
    });
    await expect(hub.connect({ ...sas, hostName: "", sharedAccessKey: "a" })).rejects.toMatchObject({
      code: "HUB_INVALID_OPTION",
      message: expect.stringContaining("hostName"),
    });
  });

  it("is down until brought back, and a desired patch needs a device id when several are connected", async () => {
    const hub = new MemoryHub();
    const credentials = (deviceId: string) =>
      ({ type: "sas", hostName: "m", deviceId, sharedAccessKey: "a2V5" }) as const;
    hub.setDown(true);
    await expect(hub.connect(credentials("a"))).rejects.toMatchObject({ code: "HUB_UNREACHABLE" });
    hub.setDown(false);
    const a = await hub.connect(credentials("a"));
    const b = await hub.connect(credentials("b"));
    expect(hub.connected).toBe(true);
    expect(() => hub.pushDesired({ x: 1 })).toThrow(/2 devices are connected/);
    await a.close();
    await b.close();
    expect(hub.connected).toBe(false);
    expect(await hub.invoke("anything")).toMatchObject({ status: 404 });
  });
});
