import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { loadConfig, resolveConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";

const groupKey = Buffer.alloc(64, 7).toString("base64");
const sas = {
  IoTHub: {
    DeviceId: "{RegistrationId}",
    DpsProvisioning: {
      IdScope: "0ne00000A0A",
      RegistrationId: "Sorter-01",
      EnrollmentGroupKeyBase64: groupKey,
    },
  },
};

function problemsOf(run: () => unknown): { path: string; message: string; fix: string }[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
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

  it("takes environment overrides (case-insensitive keys, typed values) and host:port", () => {
    const config = resolveConfig(sas, {
      env: {
        SKITTLE__IoTHub__DpsProvisioning__ProvisioningHost: "localhost:18883",
        SKITTLE__iothub__dpsprovisioning__idscope: "0ne0000FFFF",
        SKITTLE__ServoPositions__PickAngle: "150",
        SKITTLE__MockMode__EnableMockColorSensor: "true",
        SKITTLE__MockMode__EnableMockServos: "true",
        SKITTLE__MockMode__MockColorSequence: '["Red","None"]',
        OTHER: "ignored",
      },
    });
    expect(config.dps?.host).toBe("localhost");
    expect(config.dps?.port).toBe(18883);
    expect(config.dps?.idScope).toBe("0ne0000FFFF");
    expect(config.positions.pick).toBe(150);
    expect(config.emulated).toBe(true);
    expect(config.rig.sequence).toEqual(["Red", "None"]);
  });

  it("lists every problem with its key and a fix, and never echoes a secret", () => {
    const problems = problemsOf(() =>
      resolveConfig({
        IoTHub: {
          DpsProvisioning: {
            RegistrationId: "bad id!",
            AttestationMethod: "Tpm",
            EnrollmentGroupKeyBase64: 42,
          },
        },
        ServoPositions: { PickAngle: "high" },
        ChutePositions: { Red: 400 },
        Sensr: {},
      }),
    );
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "IoTHub.DpsProvisioning.AttestationMethod",
        "IoTHub.DpsProvisioning.EnrollmentGroupKeyBase64",
        "ServoPositions.PickAngle",
        "ChutePositions.Red",
        "Sensr",
      ]),
    );
    expect(problems.find((p) => p.path === "Sensr")?.fix).toMatch(/did you mean "Sensor"/);
    expect(problems.find((p) => p.path === "IoTHub.DpsProvisioning.AttestationMethod")?.message).toMatch(
      /SymmetricKey/,
    );
    for (const problem of problems) expect(problem.fix.length).toBeGreaterThan(5);
  });

  it("checks required keys after types: IdScope, RegistrationId, the key, X.509 files", () => {
    const sasProblems = problemsOf(() => resolveConfig({ IoTHub: { DpsProvisioning: {} } }));
    expect(sasProblems.map((p) => p.path)).toEqual([
      "IoTHub.DpsProvisioning.IdScope",
      "IoTHub.DpsProvisioning.RegistrationId",
      "IoTHub.DpsProvisioning.EnrollmentGroupKeyBase64",
    ]);
    expect(sasProblems[2]?.fix).toContain("SKITTLE__IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64");
    const x509 = problemsOf(() =>
      resolveConfig({
        IoTHub: {
          DpsProvisioning: {
            IdScope: "0ne1",
            RegistrationId: "a",
            AttestationMethod: "x509",
            AttestationCertPath: "missing.pem",
          },
        },
      }),
    );
    expect(x509.map((p) => p.path)).toEqual([
      "IoTHub.DpsProvisioning.AttestationCertPath",
      "IoTHub.DpsProvisioning.AttestationKeyPath",
    ]);
    expect(x509[0]?.message).toMatch(/does not exist/);
    const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";
    const bad = problemsOf(() =>
      resolveConfig({
        IoTHub: {
          DpsProvisioning: { IdScope: "x", RegistrationId: "a", EnrollmentGroupKeyBase64: `${secret}!` },
        },
      }),
    );
    expect(JSON.stringify(bad)).not.toContain(secret);
  });

  it("lengthens servo waits by Hardware.TravelMarginPercent (default 10) and rejects a margin out of range", () => {
    expect(resolveConfig({ IoTHub: { SendTelemetry: false } }).hardware.travelMarginPercent).toBe(10);
    const zero = resolveConfig(
      { IoTHub: { SendTelemetry: false } },
      {
        env: { SKITTLE__Hardware__TravelMarginPercent: "0" },
      },
    );
    expect(zero.hardware.travelMarginPercent).toBe(0);
    for (const value of [-5, 250, "lots"]) {
      const problems = problemsOf(() =>
        resolveConfig({ IoTHub: { SendTelemetry: false }, Hardware: { TravelMarginPercent: value } }),
      );
      expect(problems).toEqual([
        expect.objectContaining({ path: "Hardware.TravelMarginPercent", fix: expect.stringMatching(/\w/) }),
      ]);
    }
    const [outOfRange] = problemsOf(() =>
      resolveConfig({ IoTHub: { SendTelemetry: false }, Hardware: { TravelMarginPercent: 250 } }),
    );
    expect(outOfRange?.message).toMatch(/0 to 200/);
    expect(outOfRange?.fix).toMatch(/use 10/);
  });

  it("needs no DPS settings when telemetry is off", () => {
    const config = resolveConfig({
      IoTHub: { SendTelemetry: false },
      MockMode: { EnableMockColorSensor: true, EnableMockServos: true },
    });
    expect(config.telemetry.enabled).toBe(false);
    expect(config.dps).toBeUndefined();
    expect(config.emulated).toBe(true);
  });

  it("reports a missing file and broken JSON as configuration errors", async () => {
    await using dir = await tempDir("sorter-config-");
    await expect(loadConfig(join(dir.path, "nope.json"))).rejects.toMatchObject({ code: "CONFIG_NOT_FOUND" });
    await writeFile(join(dir.path, "bad.json"), '{ "IoTHub": { ');
    await expect(loadConfig(join(dir.path, "bad.json"))).rejects.toMatchObject({
      code: "CONFIG_INVALID_JSON",
    });
  });

  it("accepts both shipped templates once the blanks are filled", async () => {
    for (const name of ["appsettings.sas.template.json", "appsettings.x509.template.json"]) {
      const template = JSON.parse(
        await readFile(new URL(`../config/${name}`, import.meta.url), "utf8"),
      ) as Record<string, unknown>;
      const problems = problemsOf(() => resolveConfig(template, { configDir: "/nowhere" }));
      // Only the blanks (and for X.509 the files that must exist) are reported.
      for (const problem of problems)
        expect(problem.path).toMatch(
          /IdScope|RegistrationId|EnrollmentGroupKeyBase64|Attestation(Cert|Key)Path|AttestationCertChainPath/,
        );
      const filled = resolveConfig(template, {
        configDir: "/nowhere",
        env: {
          SKITTLE__IoTHub__DpsProvisioning__IdScope: "0ne00000A0A",
          SKITTLE__IoTHub__DpsProvisioning__RegistrationId: "sorter-01",
          SKITTLE__IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64: groupKey,
          SKITTLE__IoTHub__DpsProvisioning__AttestationMethod: "SymmetricKey",
        },
      });
      expect(filled.chutes.reject).toBe(134);
      expect(filled.warnings).toEqual([]);
    }
  });
});
