import { join } from "node:path";
import { createCsr, generateKeyPair } from "@skittlesorter/csr";
import { afterEach, describe, expect, it, vi } from "vitest";
import { groupSas, rawDevice, startTestSim } from "../sim.test-support.ts";
import { Store } from "../state/store.ts";

describe("a registration's rows", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("are stored in one transaction: when the last write fails, none is kept and the device gets a 500", async () => {
    const sim = await startTestSim();
    try {
      const registrationId = "atomic-1";
      const csr = await createCsr(registrationId, await generateKeyPair("ec-p384"));
      const device = await rawDevice(sim, { registrationId, password: groupSas(sim, registrationId) });
      vi.spyOn(Store.prototype, "putOperation").mockImplementationOnce(() => {
        throw new Error("disk full");
      });
      const failed = await device.register({ registrationId, csr: csr.wire });
      expect(failed.status).toBe(500);
      // The same device registers fine once storing works again.
      const assigned = await device.registerUntilDone({ registrationId, csr: csr.wire });
      expect(assigned.status).toBe(200);
      await device.close();
    } finally {
      await sim.sim.close();
    }
    const store = Store.open(join(sim.dir.path, "sim.db"));
    try {
      // One issued certificate and one assignment: the failed attempt left neither rows nor events behind.
      expect(store.listIssuedCertificates("atomic-1")).toHaveLength(1);
      expect(store.getRegistration("atomic-1")?.registrationCount).toBe(1);
      const kinds = store.listEvents({ subject: "atomic-1" }).map((event) => event.kind);
      expect(kinds.filter((kind) => kind === "certificate.issued")).toHaveLength(1);
      expect(kinds.filter((kind) => kind === "registration.assigned")).toHaveLength(1);
    } finally {
      store.close();
      await sim.dir[Symbol.asyncDispose]();
    }
  });
});
