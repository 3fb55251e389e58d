import { describe, expect, it } from "vitest";
import { problemsOf } from "./config.test-support.ts";
import { resolveConfig } from "./index.ts";

describe("resolution", () => {
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
});
