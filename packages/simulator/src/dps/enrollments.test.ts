import { noopLogger, systemClock } from "@skittlesorter/core";
import { describe, expect, it } from "vitest";
import { isSimulatorError } from "../errors.ts";
import { DEFAULT_SETTINGS, type SimContext } from "../state/context.ts";
import type { Enrollment } from "../state/model.ts";
import { IN_MEMORY, Store } from "../state/store.ts";
import { MemoryVault } from "../state/vault.ts";
import { Enrollments } from "./enrollments.ts";

function context(store: Store): SimContext & { changes: number } {
  const ctx = {
    store,
    clock: systemClock,
    logger: noopLogger,
    vault: new MemoryVault(),
    idScope: "0ne00000001",
    adrNamespace: "ns",
    changes: 0,
    settings: () => DEFAULT_SETTINGS,
    updateSettings: () => DEFAULT_SETTINGS,
    config: () => ({}),
    changed: async () => {
      ctx.changes += 1;
    },
    nowIso: () => new Date().toISOString(),
  };
  return ctx;
}

const group = (etag: string): Enrollment => ({
  kind: "group",
  id: "g1",
  attestation: { type: "symmetricKey", primaryKey: "a", secondaryKey: "b" },
  enabled: true,
  allocationPolicy: "hashed",
  reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
  etag,
  createdDateTimeUtc: "2026-01-01T00:00:00.000Z",
  lastUpdatedDateTimeUtc: "2026-01-01T00:00:00.000Z",
});

describe("Enrollments (the DPS enrollment service)", () => {
  it("throws domain errors, not HTTP ones, and records every change", async () => {
    const store = Store.open(IN_MEMORY);
    const ctx = context(store);
    const enrollments = new Enrollments(ctx);
    const caught = (error: unknown) => (isSimulatorError(error) ? [error.code, error.errorCode] : error);

    expect(
      caught(
        await Promise.resolve()
          .then(() => enrollments.get("group", "g1"))
          .catch((e) => e),
      ),
    ).toEqual(["SIM_NOT_FOUND", "ENROLLMENT_NOT_FOUND"]);
    expect(await enrollments.put("group", "g1", () => group("e1"))).toMatchObject({ created: true });
    expect(
      caught(await enrollments.put("group", "g1", () => group("e2"), { ifNoneMatch: "*" }).catch((e) => e)),
    ).toEqual(["SIM_CONFLICT", "ENROLLMENT_EXISTS"]);
    expect(caught(await enrollments.delete("group", "g1", { ifMatch: "stale" }).catch((e) => e))).toEqual([
      "SIM_PRECONDITION_FAILED",
      "ETAG_MISMATCH",
    ]);
    await enrollments.update("group", "g1", (existing) => ({ ...existing, enabled: false, etag: "e2" }), {
      ifMatch: "e1",
    });
    expect(enrollments.get("group", "g1")).toMatchObject({ enabled: false, etag: "e2" });
    await enrollments.delete("group", "g1", { ifMatch: "*" });
    expect(enrollments.list("group")).toEqual([]);
    expect(store.listEvents().map((event) => event.kind)).toEqual([
      "enrollment.created",
      "enrollment.updated",
      "enrollment.deleted",
    ]);
    expect(ctx.changes).toBe(3);
    store.close();
  });
});
