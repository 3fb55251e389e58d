import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { deriveDeviceKey } from "@skittlesorter/attestation";
import { createCsr, generateKeyPair } from "@skittlesorter/csr";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { AdminClient } from "./admin/client.ts";
import { rawDevice, runCli, sasFor, type TestSim } from "./sim.test-support.ts";
import { startSimulator } from "./simulator.ts";

async function open(dataDir: string): Promise<TestSim> {
  const sim = await startSimulator({ dataDir });
  const config = sim.config;
  return {
    sim,
    config,
    dir: { path: dataDir, [Symbol.asyncDispose]: async () => {} },
    admin: new AdminClient(config.http.url),
    rootPem: await readFile(config.trustedCaFile, "utf8"),
    groupKey: config.enrollmentGroups.find((group) => group.id === "skittlesorter")?.primaryKey ?? "",
    close: () => sim.close(),
  };
}

describe("restart", () => {
  it("keeps identity, enrollments, registrations and issued certificates; devices re-register", async () => {
    await using dir = await tempDir("skittle-sim-restart-");
    const registrationId = "restart-dev-1";

    const first = await open(dir.path);
    const key = deriveDeviceKey(first.groupKey, registrationId);
    const device = await rawDevice(first, {
      registrationId,
      password: sasFor(first.config, registrationId, key),
    });
    const csr = await createCsr(registrationId, await generateKeyPair("ec-p384"));
    const assigned = await device.registerUntilDone({ registrationId, csr: csr.wire });
    await device.close();
    expect(assigned.status).toBe(200);
    await first.admin.request("PUT", "/admin/enrollment-groups/extra", {
      body: { attestation: { type: "symmetricKey" } },
    });
    await first.close();
    await expect(stat(join(dir.path, "sim.json"))).rejects.toMatchObject({ code: "ENOENT" });

    const second = await open(dir.path);
    try {
      expect(second.config.idScope).toBe(first.config.idScope);
      expect(second.config.enrollmentGroups.map((group) => group.id).sort()).toEqual([
        "extra",
        "skittlesorter",
      ]);
      expect(second.groupKey).toBe(first.groupKey);
      expect(second.config.adr.token).toBe(first.config.adr.token);
      // Without port options it comes back on the ports of the previous run.
      expect(second.config.dps.port).toBe(first.config.dps.port);
      expect(second.config.hubs).toEqual(first.config.hubs);

      const listed = await runCli(["registration", "list", "--data-dir", dir.path]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/restart-dev-1\s+assigned\s+initialAssignment/);
      const issued = await second.admin.get<unknown[]>(
        `/admin/issued-certificates?registrationId=${registrationId}`,
      );
      expect(issued).toHaveLength(1);

      const again = await rawDevice(second, {
        registrationId,
        password: sasFor(second.config, registrationId, key),
      });
      const reply = await again.registerUntilDone();
      await again.close();
      expect(reply.body).toMatchObject({
        status: "assigned",
        registrationState: { substatus: "initialAssignment", assignedHub: first.config.hubs[0]?.hostname },
      });
      const record = await second.admin.get<{ registrationCount: number; createdDateTimeUtc: string }>(
        `/admin/registrations/${registrationId}`,
      );
      expect(record.registrationCount).toBe(2);
      expect(record.createdDateTimeUtc).toBe(
        (assigned.body.registrationState as { createdDateTimeUtc: string }).createdDateTimeUtc,
      );
    } finally {
      await second.close();
    }
  });

  it("refuses a second simulator on the same data directory", async () => {
    await using dir = await tempDir("skittle-sim-lock-");
    const sim = await startSimulator({
      dataDir: dir.path,
      dpsPort: 0,
      dpsWsPort: 0,
      hubPort: 0,
      httpPort: 0,
    });
    try {
      await expect(startSimulator({ dataDir: dir.path })).rejects.toMatchObject({
        code: "SIM_DATA_DIR",
        message: expect.stringContaining("Another simulator"),
      });
    } finally {
      await sim.close();
    }
    await sim.close();
  });

  it("says which port is taken, and leaves the data directory usable", async () => {
    await using dir = await tempDir("skittle-sim-port-");
    await using other = await tempDir("skittle-sim-port-");
    const sim = await startSimulator({
      dataDir: other.path,
      dpsPort: 0,
      dpsWsPort: 0,
      hubPort: 0,
      httpPort: 0,
    });
    try {
      await expect(
        startSimulator({
          dataDir: dir.path,
          dpsPort: sim.config.dps.port,
          dpsWsPort: 0,
          hubPort: 0,
          httpPort: 0,
        }),
      ).rejects.toMatchObject({
        code: "SIM_LISTEN_FAILED",
        message: expect.stringContaining(`${sim.config.dps.port} is in use`),
      });
      const retry = await startSimulator({
        dataDir: dir.path,
        dpsPort: 0,
        dpsWsPort: 0,
        hubPort: 0,
        httpPort: 0,
      });
      await retry.close();
    } finally {
      await sim.close();
    }
  });
});
