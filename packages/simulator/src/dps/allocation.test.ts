import { describe, expect, it } from "vitest";
import type { EnrollmentGroup, LinkedHub } from "../state/model.ts";
import { allocate } from "./allocation.ts";

const hub = (name: string, allocationWeight: number, applyAllocationPolicy = true): LinkedHub => ({
  name,
  hostname: `${name}.example.net`,
  local: false,
  allocationWeight,
  applyAllocationPolicy,
  created: "2026-01-01T00:00:00.000Z",
});

const group = (patch: Partial<EnrollmentGroup> = {}): EnrollmentGroup => ({
  kind: "group",
  id: "g",
  attestation: { type: "symmetricKey", primaryKey: "", secondaryKey: "" },
  enabled: true,
  allocationPolicy: "hashed",
  reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
  etag: "e",
  createdDateTimeUtc: "",
  lastUpdatedDateTimeUtc: "",
  ...patch,
});

describe("allocate", () => {
  it("spreads hashed allocation by weight and is stable per registration id", () => {
    const hubs = [hub("a", 1), hub("b", 3), hub("off", 5, false), hub("zero", 0)];
    const counts = new Map<string, number>();
    for (let index = 0; index < 2000; index++) {
      const chosen = allocate(group(), hubs, `device-${index}`);
      if (typeof chosen === "string") throw new Error(chosen);
      counts.set(chosen.name, (counts.get(chosen.name) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(["a", "b"]);
    expect(counts.get("b") ?? 0).toBeGreaterThan(1350);
    expect(counts.get("b") ?? 0).toBeLessThan(1650);
    expect(allocate(group(), hubs, "device-7")).toEqual(allocate(group(), hubs, "device-7"));
  });

  it("honours the enrollment's hub list and static allocation, and says when no hub fits", () => {
    const hubs = [hub("a", 1), hub("b", 1), hub("off", 1, false)];
    expect(allocate(group({ iotHubs: ["off"] }), hubs, "d1")).toMatchObject({ name: "off" });
    expect(allocate(group({ allocationPolicy: "static", staticHub: "b" }), hubs, "d1")).toMatchObject({
      name: "b",
    });
    expect(allocate(group({ allocationPolicy: "static", staticHub: "gone" }), hubs, "d1")).toMatch(
      /not linked/,
    );
    expect(allocate(group(), [hub("off", 1, false)], "d1")).toMatch(/No linked IoT hub/);
  });

  it("sends geo-latency registrations to the simulator's own hub when it is a candidate, else hashes", () => {
    const local = { ...hub("own", 1), local: true };
    const hubs = [hub("a", 5), local, hub("b", 5)];
    for (const id of ["d1", "d2", "d3", "d4"]) {
      expect(allocate(group({ allocationPolicy: "geoLatency" }), hubs, id)).toMatchObject({ name: "own" });
    }
    const remote = group({ allocationPolicy: "geoLatency", iotHubs: ["a", "b"] });
    expect(allocate(remote, hubs, "d1")).toEqual(allocate(group({ iotHubs: ["a", "b"] }), hubs, "d1"));
  });
});
