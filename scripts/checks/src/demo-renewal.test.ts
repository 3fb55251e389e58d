import type { RenewalRecord } from "@skittlesorter/simulator";
import { describe, expect, it } from "vitest";
import { RENEW_AFTER_SECONDS, renewalCheck, renewalWindowDays } from "../../demo-renewal.ts";

const renewal = (serialNumber: string, state: RenewalRecord["state"] = "issued"): RenewalRecord => ({
  requestId: `r-${serialNumber}`,
  deviceId: "demo-sorter-01",
  hub: "skittle-hub",
  state,
  requestedAt: "2026-12-06T00:00:00.000Z",
  ...(state === "issued" ? { serialNumber } : {}),
});
const issued = [
  { serialNumber: "DPS1", sha256Thumbprint: "AA:01" },
  { serialNumber: "HUB1", sha256Thumbprint: "AA:02" },
];

// `pnpm demo -- --hub-client hub-mqtt` must fail when the sorter did not renew through the hub.
describe("the demo's renewal check", () => {
  it("passes when the sorter ended on a certificate the hub issued, after one DPS registration", () => {
    const check = renewalCheck({
      renewals: [renewal("HUB1")],
      issued,
      registrationCount: 1,
      finalThumbprint: "aa02",
    });
    expect(check).toMatchObject({ ok: true });
    expect(check.detail).toBe(
      "1 certificate issued by the hub, 1 DPS registration; the sorter ended on serial HUB1 from the hub",
    );
  });

  it.each([
    ["no renewal", [], 1, "aa01"],
    ["a refused renewal only", [renewal("x", "refused")], 1, "aa01"],
    ["the sorter kept the DPS certificate", [renewal("HUB1")], 1, "aa01"],
    ["a second DPS registration", [renewal("HUB1")], 2, "aa02"],
    ["a certificate nobody issued", [renewal("HUB1")], 1, "ff"],
  ] as const)("fails with %s", (_case, renewals, registrationCount, finalThumbprint) => {
    expect(renewalCheck({ renewals, issued, registrationCount, finalThumbprint }).ok).toBe(false);
  });

  it("makes a certificate due the configured seconds after issuance", () => {
    const days = renewalWindowDays(30);
    expect((30 - days) * 24 * 3600).toBeCloseTo(RENEW_AFTER_SECONDS, 6);
    expect(() => renewalWindowDays(0.00001, 6)).toThrow(/cannot be renewed 6 s after issuance/);
  });
});
