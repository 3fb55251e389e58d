// What hangs on a hub identity goes with it: deleting a device removes its modules, the persistent MQTT sessions
// of both (in the database and in the running broker) and its cloud-to-device queue; deleting a module removes its
// session. Generation ids come from the simulator's clock.
import { createSasToken } from "@skittlesorter/attestation";
import { type Clock, systemClock } from "@skittlesorter/core";
import { describe, expect, it } from "vitest";
import type { TestSim } from "../sim.test-support.ts";
import { rawHub, restartableSim } from "./hub-features.test-support.ts";
import { hubServiceClient } from "./service-api/service-api.test-support.ts";

interface Identity {
  generationId: string;
  authentication: { symmetricKey: { primaryKey: string } };
}

const SAS = { type: "sas", symmetricKey: { primaryKey: "", secondaryKey: "" } };
const DAY_MS = 24 * 60 * 60 * 1000;
/** .NET ticks at the Unix epoch. */
const EPOCH_TICKS = 621_355_968_000_000_000n;

/** Creates a device (or one of its modules) through the service REST API; resolves to the identity document. */
async function create(sim: TestSim, deviceId: string, moduleId?: string): Promise<Identity> {
  const path = moduleId === undefined ? `/devices/${deviceId}` : `/devices/${deviceId}/modules/${moduleId}`;
  const answer = await hubServiceClient(sim.config)("PUT", path, {
    body: { deviceId, ...(moduleId === undefined ? {} : { moduleId }), authentication: SAS },
  });
  expect(answer.status).toBe(200);
  return answer.body as Identity;
}

/** A raw clean: false connection of the device or module; resolves to its CONNACK's sessionPresent, then closes. */
async function connectPersistent(
  sim: TestSim,
  identity: Identity,
  deviceId: string,
  moduleId?: string,
  subscribe?: string,
): Promise<boolean> {
  const hostname = sim.config.hubs[0]?.hostname ?? "";
  const resource = `${hostname}/devices/${deviceId}${moduleId === undefined ? "" : `/modules/${moduleId}`}`;
  const client = await rawHub(sim, {
    clientId: moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`,
    password: createSasToken(resource, identity.authentication.symmetricKey.primaryKey),
    clean: false,
  });
  if (subscribe !== undefined) await client.subscribeAsync(subscribe, { qos: 0 });
  await client.endAsync();
  return client.sessionPresent;
}

describe("deleting hub identities", () => {
  it("a deleted device takes its modules, both persistent sessions and its C2D queue with it", async () => {
    await using sims = await restartableSim();
    const service = () => hubServiceClient(sims.sim.config);
    const device = await create(sims.sim, "gone-device-01");
    const module = await create(sims.sim, "gone-device-01", "sorter");
    await connectPersistent(sims.sim, device, "gone-device-01", undefined, "$iothub/twin/res/#");
    await connectPersistent(sims.sim, module, "gone-device-01", "sorter", "$iothub/twin/res/#");
    // The sessions are there to lose.
    expect(await connectPersistent(sims.sim, device, "gone-device-01")).toBe(true);
    await sims.sim.admin.sendCloudToDeviceMessage("gone-device-01", {
      body: "never read",
      messageId: "lost",
    });

    expect((await service()("DELETE", "/devices/gone-device-01")).status).toBe(204);
    const again = await create(sims.sim, "gone-device-01");
    expect((await service()("GET", "/devices/gone-device-01/modules")).body).toEqual([]);
    expect(await sims.sim.admin.listCloudToDeviceMessages("gone-device-01")).toEqual([]);
    // The running broker forgot the device's session …
    expect(await connectPersistent(sims.sim, again, "gone-device-01")).toBe(false);
    // … and so did the database: a restart brings back neither session.
    const sim = await sims.restart();
    expect(await connectPersistent(sim, again, "gone-device-01")).toBe(false);
    const moduleAgain = await create(sim, "gone-device-01", "sorter");
    expect(await connectPersistent(sim, moduleAgain, "gone-device-01", "sorter")).toBe(false);
  });

  it("a deleted module takes its persistent session with it", async () => {
    await using sims = await restartableSim();
    await create(sims.sim, "gone-module-host");
    const module = await create(sims.sim, "gone-module-host", "filter");
    await connectPersistent(sims.sim, module, "gone-module-host", "filter", "$iothub/methods/POST/#");
    expect(await connectPersistent(sims.sim, module, "gone-module-host", "filter")).toBe(true);

    const deleted = await hubServiceClient(sims.sim.config)(
      "DELETE",
      "/devices/gone-module-host/modules/filter",
      {
        headers: { "if-match": "*" },
      },
    );
    expect(deleted.status).toBe(204);
    const again = await create(sims.sim, "gone-module-host", "filter");
    expect(await connectPersistent(sims.sim, again, "gone-module-host", "filter")).toBe(false);
    const sim = await sims.restart();
    expect(await connectPersistent(sim, again, "gone-module-host", "filter")).toBe(false);
  });

  it("generation ids of devices and modules come from the simulator's clock", async () => {
    // The hub's clock runs a day behind real time: an id taken from Date.now() would be a day later.
    const clock: Clock = { ...systemClock, now: () => Date.now() - DAY_MS };
    await using sims = await restartableSim(clock);
    const msOf = (generationId: string) => Number((BigInt(generationId) - EPOCH_TICKS) / 10_000n);
    const before = clock.now();
    const device = await create(sims.sim, "generation-01");
    const module = await create(sims.sim, "generation-01", "sorter");
    const after = clock.now();
    for (const identity of [device, module]) {
      expect(msOf(identity.generationId)).toBeGreaterThanOrEqual(before);
      expect(msOf(identity.generationId)).toBeLessThanOrEqual(after);
    }
  });
});
