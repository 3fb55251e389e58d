import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { groupKey, sas } from "./config.test-support.ts";
import { loadConfig, resolveConfig } from "./index.ts";

describe("appsettings.json compatibility", () => {
  it("reads the original's keys, applies defaults and the {RegistrationId} token", () => {
    const config = resolveConfig(
      {
        ...sas,
        IoTHub: {
          ...sas.IoTHub,
          DpsProvisioning: {
            ...sas.IoTHub.DpsProvisioning,
            IssuedCertFilePath: "certs/issued/{RegistrationId}-issued.pem",
          },
        },
      },
      { configDir: "/etc/sorter" },
    );
    expect(config.dps?.registrationId).toBe("sorter-01");
    expect(config.telemetry.configuredDeviceId).toBe("sorter-01");
    expect(config.credentials.chainFile).toBe("/etc/sorter/data/certs/issued/sorter-01-issued.pem");
    expect(config.dps?.host).toBe("global.azure-devices-provisioning.net");
    expect(config.dps?.port).toBe(8883);
    expect(config.positions).toEqual({ pick: 160, detect: 60, drop: 0, park: 0 });
    expect(config.chutes.Red).toBe(22);
    expect(config.emulated).toBe(false);
    expect(config.dps?.attestation).toEqual({ kind: "symmetricKey", groupKey });
  });

  it("reports a missing file and broken JSON as configuration errors", async () => {
    await using dir = await tempDir("sorter-config-");
    await expect(loadConfig(join(dir.path, "nope.json"))).rejects.toMatchObject({ code: "CONFIG_NOT_FOUND" });
    await writeFile(join(dir.path, "bad.json"), '{ "IoTHub": { ');
    await expect(loadConfig(join(dir.path, "bad.json"))).rejects.toMatchObject({
      code: "CONFIG_INVALID_JSON",
    });
  });
});
