// Reprovisioning policies when a device re-registers to a different hub (docs iot-dps/concepts-device-reprovision.md),
// with the official MQTT provisioning client and the initial twin of the enrollment.
import { createHash } from "node:crypto";
import { deriveDeviceKey } from "@skittlesorter/attestation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { officialProvision, startTestSim, type TestSim } from "../sim.test-support.ts";

/** Each group its own key: a device's SAS picks its group by the key it derives from. */
const keyOf = (groupId: string) => createHash("sha256").update(groupId).digest("base64");

describe("reprovisioning policies", () => {
  let sim: TestSim;
  let localHub: { name: string; hostname: string };

  beforeAll(async () => {
    sim = await startTestSim();
    const first = sim.config.hubs[0];
    if (first === undefined) throw new Error("no local hub");
    localHub = first;
    await sim.admin.request("PUT", "/admin/hubs/second", { body: { hostname: "second-hub.example.net" } });
  });
  afterAll(() => sim.close());

  /** The device starts on the second hub with the first initial twin; then the enrollment moves to the local hub. */
  async function registerThenMove(groupId: string, reprovisionPolicy: Record<string, boolean>) {
    await sim.admin.putEnrollment("group", groupId, {
      attestation: { type: "symmetricKey", primaryKey: keyOf(groupId), secondaryKey: keyOf(groupId) },
      allocationPolicy: "static",
      staticHub: "second",
      reprovisionPolicy,
      initialTwin: { tags: { stage: "first" }, properties: { desired: { mode: "a" } } },
    });
    const registrationId = `${groupId}-device`;
    const symmetricKey = deriveDeviceKey(keyOf(groupId), registrationId);
    const first = await officialProvision(sim, { registrationId, symmetricKey });
    expect(first.result).toMatchObject({
      assignedHub: "second-hub.example.net",
      substatus: "initialAssignment",
    });
    await sim.admin.request("PATCH", `/admin/enrollment-groups/${groupId}`, {
      body: {
        staticHub: localHub.name,
        initialTwin: { tags: { stage: "second" }, properties: { desired: { mode: "b" } } },
      },
    });
    const again = await officialProvision(sim, { registrationId, symmetricKey });
    expect(again.ok).toBe(true);
    return { registrationId, result: again.result ?? {} };
  }

  it("re-provision and migrate data: moves the device with its twin", async () => {
    const { registrationId, result } = await registerThenMove("migrating", {
      updateHubAssignment: true,
      migrateDeviceData: true,
    });
    expect(result).toMatchObject({ assignedHub: localHub.hostname, substatus: "deviceDataMigrated" });
    const twin = await sim.admin.getTwin(registrationId);
    expect(twin.tags).toEqual({ stage: "first" });
    expect(twin.properties.desired).toMatchObject({ mode: "a" });
  });

  it("re-provision and reset to initial config: the twin starts again from the enrollment", async () => {
    const { registrationId, result } = await registerThenMove("resetting", {
      updateHubAssignment: true,
      migrateDeviceData: false,
    });
    expect(result).toMatchObject({ assignedHub: localHub.hostname, substatus: "deviceDataReset" });
    const twin = await sim.admin.getTwin(registrationId);
    expect(twin.tags).toEqual({ stage: "second" });
    expect(twin.properties.desired).toMatchObject({ mode: "b" });
    expect(twin.properties.desired).not.toHaveProperty("a");
  });

  it("never re-provision: the device stays on its hub", async () => {
    const { registrationId, result } = await registerThenMove("staying", {
      updateHubAssignment: false,
      migrateDeviceData: true,
    });
    expect(result).toMatchObject({ assignedHub: "second-hub.example.net", substatus: "initialAssignment" });
    await expect(sim.admin.getDevice(registrationId)).rejects.toMatchObject({ statusCode: 404 });
  });

  it("applies the enrollment's initial twin at the first assignment", async () => {
    await sim.admin.putEnrollment("group", "twinned", {
      attestation: { type: "symmetricKey", primaryKey: keyOf("twinned"), secondaryKey: keyOf("twinned") },
      initialTwin: { tags: { site: "lab" }, properties: { desired: { interval: 5 } } },
      iotHubs: [localHub.name],
    });
    const registrationId = "twinned-device";
    const outcome = await officialProvision(sim, {
      registrationId,
      symmetricKey: deriveDeviceKey(keyOf("twinned"), registrationId),
    });
    expect(outcome.result).toMatchObject({ assignedHub: localHub.hostname, substatus: "initialAssignment" });
    const twin = await sim.admin.getTwin(registrationId);
    expect(twin.tags).toEqual({ site: "lab" });
    expect(twin.properties.desired).toMatchObject({ interval: 5 });
  });
});
