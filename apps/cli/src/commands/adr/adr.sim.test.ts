import { join } from "node:path";
import { type SimConfigOnDisk, type Simulator, startSimulator } from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

interface Device {
  id: string;
  name: string;
  type: string;
  tags?: Record<string, string>;
  properties?: {
    externalDeviceId?: string;
    enabled?: boolean;
    attributes?: Record<string, unknown>;
    policy?: { resourceId?: string };
    provisioningState?: string;
  };
}

// `skittle adr …` against a real simulator: the device DPS provisioned appears in the ADR namespace, and an
// update (a long-running PATCH on the simulator) changes its attributes and tags.
describe("skittle adr --sim", () => {
  let dir: TempDir;
  let sim: Simulator<SimConfigOnDisk>;
  const registrationId = "adr-cli-sorter-01";

  beforeAll(async () => {
    dir = await tempDir("skittle-adr-sim-");
    sim = await startSimulator({
      dataDir: join(dir.path, "sim"),
      dpsPort: 0,
      dpsWsPort: 0,
      hubPort: 0,
      httpPort: 0,
    });
    const provisioned = await runCli([
      "provision",
      "--sim",
      sim.configFile,
      "--registration-id",
      registrationId,
      "--csr",
      "--out-dir",
      join(dir.path, "device"),
      "--json",
    ]);
    expect(provisioned.stderr).toBe("");
    expect(provisioned.code).toBe(0);
  });

  afterAll(async () => {
    await sim?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("lists the provisioned device in the namespace", async () => {
    const run = await runCli(["adr", "devices", "list", "--sim", sim.configFile, "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const devices = JSON.parse(run.stdout) as Device[];
    const device = devices.find((item) => item.name === registrationId);
    expect(device).toMatchObject({
      id: `${sim.config.adr.namespaceId}/devices/${registrationId}`,
      type: "Microsoft.DeviceRegistry/namespaces/devices",
      properties: {
        externalDeviceId: registrationId,
        enabled: true,
        provisioningState: "Succeeded",
        policy: { resourceId: `${sim.config.adr.namespaceId}/credentials/default/policies/default` },
      },
    });

    const human = await runCli(["adr", "devices", "list", "--sim", sim.configFile]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(registrationId);
  });

  it("updates attributes and tags, merged with the current ones", async () => {
    const first = await runCli([
      "adr",
      "devices",
      "update",
      registrationId,
      "--attribute",
      "colourSensor=tcs34725",
      "--tag",
      "site=kitchen",
      "--sim",
      sim.configFile,
      "--json",
    ]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      name: registrationId,
      tags: { site: "kitchen" },
      properties: { attributes: { colourSensor: "tcs34725" } },
    });

    const second = await runCli([
      "adr",
      "devices",
      "update",
      registrationId,
      "--attribute",
      "bins=6",
      "--tag",
      "owner=lab",
      "--sim",
      sim.configFile,
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`updated device ${registrationId}`);

    const shown = await runCli(["adr", "devices", "show", registrationId, "--sim", sim.configFile, "--json"]);
    expect(shown.code).toBe(0);
    const device = JSON.parse(shown.stdout) as Device;
    expect(device.tags).toEqual({ site: "kitchen", owner: "lab" });
    expect(device.properties?.attributes).toEqual({ colourSensor: "tcs34725", bins: "6" });
  });

  it("reports a missing device", async () => {
    const run = await runCli(["adr", "devices", "show", "no-such-device", "--sim", sim.configFile]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("not found");
  });
});
