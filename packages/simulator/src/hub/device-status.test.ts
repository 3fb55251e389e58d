// Enabling and disabling a device is one domain path (DeviceRegistry.setStatus), whether the service REST API
// (`PUT /devices/{id}`), the admin API (`PATCH /admin/devices/{id}`) or ADR asks: the connection closes, the hub
// refuses the device, its ADR record follows, and an audit event says who did it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionDevice, startTestSim, type TestSim } from "../sim.test-support.ts";
import { deviceSas, rawHub } from "./hub-features.test-support.ts";
import { adrClient, hubServiceClient } from "./service-api/service-api.test-support.ts";

interface DeviceDocument {
  etag: string;
  status: string;
}

describe("device status through every entry point", () => {
  let sim: TestSim;
  let service: ReturnType<typeof hubServiceClient>;
  let adr: ReturnType<typeof adrClient>;

  const serviceStatus = async (deviceId: string): Promise<string> =>
    ((await service("GET", `/devices/${deviceId}`)).body as DeviceDocument).status;
  const adrEnabled = async (deviceId: string): Promise<unknown> =>
    ((await adr("GET", `/devices/${deviceId}`)).body as { properties: { enabled: unknown } }).properties
      .enabled;
  const statusEvents = async (deviceId: string) =>
    (
      await sim.admin.listEvents({ subject: deviceId, kinds: ["hub.deviceDisabled", "hub.deviceEnabled"] })
    ).map((event) => [event.kind, event.details.by]);

  beforeAll(async () => {
    sim = await startTestSim();
    service = hubServiceClient(sim.config);
    adr = adrClient(sim.config);
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("the service REST API's PUT /devices/{id} disconnects and refuses a disabled device, and ADR follows both ways", async () => {
    const device = await provisionDevice(sim, "status-service-01");
    const hub = () => rawHub(sim, { clientId: device.deviceId, password: deviceSas(device) });
    const connected = await hub();
    const closed = new Promise<void>((resolve) => connected.once("close", () => resolve()));
    const read = (await service("GET", `/devices/${device.deviceId}`)).body as DeviceDocument;
    const disabled = await service("PUT", `/devices/${device.deviceId}`, {
      body: { ...read, status: "disabled" },
      headers: { "if-match": `"${read.etag}"` },
    });
    expect(disabled.status).toBe(200);
    expect((disabled.body as DeviceDocument).status).toBe("disabled");
    await closed;
    await connected.endAsync(true);
    await expect(hub()).rejects.toThrow(/Not authorized/);
    expect(await adrEnabled(device.deviceId)).toBe(false);
    expect((await sim.admin.getDevice(device.deviceId)).status).toBe("disabled");

    const enabled = await service("PUT", `/devices/${device.deviceId}`, {
      body: { ...read, status: "enabled" },
      headers: { "if-match": "*" },
    });
    expect((enabled.body as DeviceDocument).status).toBe("enabled");
    expect(await adrEnabled(device.deviceId)).toBe(true);
    await (await hub()).endAsync();
    expect(await statusEvents(device.deviceId)).toEqual([
      ["hub.deviceDisabled", "service-api"],
      ["hub.deviceEnabled", "service-api"],
    ]);
  });

  it("the admin API's PATCH /admin/devices/{id} takes the same path: the service REST view and ADR follow", async () => {
    const device = await provisionDevice(sim, "status-admin-01");
    await sim.admin.setDeviceStatus(device.deviceId, "disabled");
    expect(await serviceStatus(device.deviceId)).toBe("disabled");
    expect(await adrEnabled(device.deviceId)).toBe(false);
    await expect(rawHub(sim, { clientId: device.deviceId, password: deviceSas(device) })).rejects.toThrow(
      /Not authorized/,
    );
    // Disabling twice changes nothing and records nothing.
    await sim.admin.setDeviceStatus(device.deviceId, "disabled");
    await sim.admin.setDeviceStatus(device.deviceId, "enabled");
    expect(await serviceStatus(device.deviceId)).toBe("enabled");
    expect(await adrEnabled(device.deviceId)).toBe(true);
    expect(await statusEvents(device.deviceId)).toEqual([
      ["hub.deviceDisabled", "admin"],
      ["hub.deviceEnabled", "admin"],
    ]);
  });

  it("ADR's PATCH disables the hub identity; a device whose ADR record is disabled reads as disabled", async () => {
    const device = await provisionDevice(sim, "status-adr-01");
    await adr("PATCH", `/devices/${device.deviceId}`, { body: { properties: { enabled: false } } });
    expect(await serviceStatus(device.deviceId)).toBe("disabled");
    expect(await statusEvents(device.deviceId)).toEqual([["hub.deviceDisabled", "adr"]]);

    // An ADR record disabled before its device first provisions: the hub identity DPS creates is refused, and the
    // service API says so.
    const created = await adr("PUT", "/devices/status-adr-02", {
      body: { location: "local", properties: { externalDeviceId: "status-adr-02", enabled: false } },
    });
    expect(created.status).toBe(201);
    const late = await provisionDevice(sim, "status-adr-02");
    expect(await serviceStatus(late.deviceId)).toBe("disabled");
    const twin = await service("GET", `/twins/${late.deviceId}`);
    expect((twin.body as DeviceDocument).status).toBe("disabled");
    await expect(rawHub(sim, { clientId: late.deviceId, password: deviceSas(late) })).rejects.toThrow(
      /Not authorized/,
    );
  });
});
