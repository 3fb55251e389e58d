import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { groupKey, problemsOf } from "./config.test-support.ts";
import { BUNDLED_EMULATED_CONFIG, loadConfig, resolveConfig, TEMPLATE_FILES } from "./index.ts";

describe("shipped configuration files", () => {
  it("accepts both shipped templates once the blanks are filled", async () => {
    for (const file of Object.values(TEMPLATE_FILES)) {
      const template = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
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

  it("bundles an emulated rig that needs no hardware and no Azure", async () => {
    const config = await loadConfig(BUNDLED_EMULATED_CONFIG, { env: {} });
    expect(config.emulated).toBe(true);
    expect(config.telemetry.enabled).toBe(false);
  });
});
