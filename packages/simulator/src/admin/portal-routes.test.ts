import { connectAsync, type IClientOptions } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestSim,
  type TestSim,
  waitFor,
  x509Of,
} from "../sim.test-support.ts";

// The admin API the portal reads: device search and paging, one auth vocabulary, enable/disable, filtered events.
describe("admin API for the portal", () => {
  let sim: TestSim;
  let csrDevice: ProvisionedDevice;

  const hubOptions = (device: ProvisionedDevice): IClientOptions => ({
    clientId: device.deviceId,
    username: `${device.assignedHub}/${device.deviceId}/?api-version=2021-04-12`,
    ...x509Of(device),
    ca: sim.rootPem,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  const hubUrl = () => `mqtts://127.0.0.1:${sim.config.hubs[0]?.port}`;

  beforeAll(async () => {
    sim = await startTestSim();
    csrDevice = await provisionDevice(sim, "paging-csr", { csr: true });
    for (const name of ["paging-alpha", "paging-beta", "paging-gamma", "other-delta"]) {
      await provisionDevice(sim, name);
    }
  }, 60_000);

  afterAll(async () => {
    await sim?.close();
  });

  it("searches device ids and pages them, answering the total in x-total-count", async () => {
    const page = await sim.admin.request<{ deviceId: string }[]>(
      "GET",
      "/admin/devices?search=PAGING&limit=2&offset=1",
    );
    expect(page.body.map((device) => device.deviceId)).toEqual(["paging-beta", "paging-csr"]);
    expect(page.headers.get("x-total-count")).toBe("4");
    const all = await sim.admin.listDevices();
    expect(all).toHaveLength(5);
    expect((await sim.admin.listDevices({ search: "delta" })).map((device) => device.deviceId)).toEqual([
      "other-delta",
    ]);
    await expect(sim.admin.listDevices({ limit: 0 })).rejects.toMatchObject({
      statusCode: 400,
      errorCode: "INVALID_QUERY",
      message: '"limit" must be a whole number from 1 to 1000.',
    });
  });

  it("names every device's authentication in the hub's words: x509CA, selfSigned or sas", async () => {
    const csr = await sim.admin.getDevice(csrDevice.deviceId);
    expect(csr.authType).toBe("x509CA");
    // The registry record keeps IoT Hub's REST name.
    expect(csr.authentication.type).toBe("certificateAuthority");
    expect((await sim.admin.getDevice("paging-alpha")).authType).toBe("sas");
  });

  it("disables a device (disconnecting and refusing it) and enables it again", {
    timeout: 60_000,
  }, async () => {
    const connected = await connectAsync(hubUrl(), hubOptions(csrDevice));
    const closed = new Promise<void>((resolve) => connected.once("close", () => resolve()));
    await sim.admin.setDeviceStatus(csrDevice.deviceId, "disabled");
    await closed;
    expect((await sim.admin.getDevice(csrDevice.deviceId)).status).toBe("disabled");
    await expect(connectAsync(hubUrl(), hubOptions(csrDevice))).rejects.toThrow();

    await sim.admin.setDeviceStatus(csrDevice.deviceId, "enabled");
    expect((await sim.admin.getDevice(csrDevice.deviceId)).status).toBe("enabled");
    const again = await connectAsync(hubUrl(), hubOptions(csrDevice));
    await again.endAsync();

    await expect(
      sim.admin.request("PATCH", `/admin/devices/${csrDevice.deviceId}`, { body: { status: "off" } }),
    ).rejects.toMatchObject({ statusCode: 400, errorCode: "INVALID_BODY" });
    await expect(sim.admin.setDeviceStatus("no-such-device", "disabled")).rejects.toMatchObject({
      statusCode: 404,
      errorCode: "DEVICE_NOT_FOUND",
    });
  });

  it("filters audit events by subject and by kind fragments (a device's connection history)", async () => {
    const history = await waitFor("the disconnect to be recorded", async () => {
      const events = await sim.admin.listEvents({
        subject: csrDevice.deviceId,
        kinds: ["hub.connected", "hub.disconnected"],
      });
      return events.length >= 4 ? events : undefined;
    });
    expect(history.map((event) => event.kind)).toEqual([
      "hub.connected",
      "hub.disconnected",
      "hub.connected",
      "hub.disconnected",
    ]);
    expect(history.every((event) => event.subject === csrDevice.deviceId)).toBe(true);
    const statusChanges = await sim.admin.listEvents({ kinds: ["hub.deviceDisabled", "hub.deviceEnabled"] });
    expect(statusChanges.map((event) => event.kind)).toEqual(["hub.deviceDisabled", "hub.deviceEnabled"]);
    expect(await sim.admin.listEvents({ subject: "nobody" })).toEqual([]);
  });
});
