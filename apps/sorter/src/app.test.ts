import { readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { type Clock, systemClock } from "@skittlesorter/core";
import { MemoryHub } from "@skittlesorter/hub-client/testing";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startSorterApp } from "./app.ts";
import { resolveConfig } from "./config/index.ts";
import { captureLogger, fakeProvisioner, waitFor } from "./fakes.test-support.ts";
import { openEmulatedHardware } from "./hardware.ts";
import { VirtualClock } from "./virtual-clock.ts";

const groupKey = Buffer.alloc(64, 9).toString("base64");
let dir: TempDir;

beforeEach(async () => {
  dir = await tempDir("sorter-app-");
});
afterEach(async () => {
  await dir[Symbol.asyncDispose]();
});

function config(skittles: number, timeScale = 0.01, dataDir = dir.path) {
  return resolveConfig(
    {
      MockMode: { EnableMockColorSensor: true, EnableMockServos: true },
      ChutePositions: { Reject: 134 },
      EmulatedRig: { Skittles: skittles, Seed: 11, TimeScale: timeScale },
      IoTHub: {
        DeviceId: "{RegistrationId}",
        TwinReportIntervalMs: 0,
        DpsProvisioning: {
          IdScope: "0ne00000A0A",
          RegistrationId: "sorter-app",
          EnrollmentGroupKeyBase64: groupKey,
        },
      },
    },
    { dataDir },
  );
}

/** The mode (e.g. "600") of `root` and of every entry under it, by path relative to `root`. */
async function modesUnder(root: string): Promise<Record<string, string>> {
  const modes: Record<string, string> = { ".": ((await stat(root)).mode & 0o777).toString(8) };
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    modes[relative(root, path)] = ((await stat(path)).mode & 0o777).toString(8);
  }
  return modes;
}

function bodies(hub: MemoryHub) {
  return hub.messages.map(
    (m) => JSON.parse(m.body) as { messageId: number; color: string; deviceId: string },
  );
}

describe("the sorter app (emulated rig, in-memory hub)", () => {
  it("delivers one message per skittle with the agreed shape, and reports the twin", async () => {
    const hub = new MemoryHub();
    const fake = await fakeProvisioner();
    const app = await startSorterApp(config(8, 0), { hubConnector: hub, provisioner: fake.provisioner });
    const summary = await app.done;
    expect(summary.rig?.accuracy).toBe(1);
    expect(summary.telemetry).toMatchObject({ queued: 8, delivered: 8, pending: 0 });
    expect(hub.messages).toHaveLength(8);
    const [first] = hub.messages;
    expect(first?.contentType).toBe("application/json");
    expect(first?.contentEncoding).toBe("utf-8");
    expect(first?.properties.colorAlert).toBe("detected");
    const body = JSON.parse(first?.body ?? "{}");
    expect(Object.keys(body).sort()).toEqual([
      "color",
      "confidence",
      "deviceId",
      "messageId",
      "rgbc",
      "timestamp",
    ]);
    expect(body.deviceId).toBe("sorter-app");
    expect(Object.keys(body.rgbc).sort()).toEqual(["blue", "clear", "green", "red"]);
    expect(hub.reported).toMatchObject({
      software: { name: "skittle-sorter" },
      certificate: { validFrom: expect.any(String), validUntil: expect.any(String) },
      counts: { total: 8 },
      sorting: { state: "stopped" },
    });
  });

  it("loses nothing when the hub goes away mid-run: the outbox delivers everything, in order", async () => {
    const hub = new MemoryHub();
    const fake = await fakeProvisioner();
    const app = await startSorterApp(config(40), {
      hubConnector: hub,
      provisioner: fake.provisioner,
      reconnectInitialMs: 5,
      reconnectMaxMs: 20,
    });
    await waitFor(() => hub.messages.length >= 5, 20_000, "first messages");
    hub.setDown(true);
    const deliveredBefore = hub.messages.length;
    await waitFor(() => app.sorter.sorted >= deliveredBefore + 10, 20_000, "sorting during the outage");
    expect(app.outbox?.size).toBeGreaterThan(5);
    hub.setDown(false);
    const summary = await app.done;
    expect(summary.telemetry?.pending).toBe(0);
    const ids = bodies(hub).map((b) => b.messageId);
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(hub.connects.filter((c) => !c.accepted).length).toBeGreaterThan(0);
  });

  it("provisions again when the hub refuses the certificate, and switches on renewal without losing telemetry", async () => {
    const hub = new MemoryHub();
    const fake = await fakeProvisioner();
    const app = await startSorterApp(config(40), {
      hubConnector: hub,
      provisioner: fake.provisioner,
      reconnectInitialMs: 5,
      minProvisionIntervalMs: 0,
    });
    await waitFor(() => hub.messages.length >= 5, 20_000, "first messages");
    const first = app.credentials?.current?.certificate.sha256Thumbprint ?? "";
    hub.refuse(first); // e.g. the device was disabled, or moved
    await waitFor(() => fake.calls.length === 2, 20_000, "provisioning again");
    await waitFor(() => hub.messages.length >= 15, 20_000, "messages with the new certificate");
    await app.credentials?.renew("renewal due");
    const summary = await app.done;
    expect(fake.calls).toHaveLength(3);
    expect(summary.telemetry?.pending).toBe(0);
    expect(bodies(hub).map((b) => b.messageId)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const thumbprints = [...new Set(hub.messages.map((m) => m.thumbprint))];
    expect(thumbprints).toHaveLength(3);
    expect(thumbprints[0]).toBe(first);
    expect(hub.reported).toMatchObject({
      certificate: { thumbprint: summary.certificate?.sha256Thumbprint },
    });
  });

  it("pauses and resumes from desired properties and direct methods; home parks", async () => {
    const hub = new MemoryHub();
    const fake = await fakeProvisioner();
    const app = await startSorterApp(config(30), { hubConnector: hub, provisioner: fake.provisioner });
    await waitFor(() => hub.connected && app.sorter.sorted >= 2, 20_000, "running");
    hub.pushDesired({ enableSorting: false, chutePositions: { Red: 30, Bogus: 1 } });
    await waitFor(() => app.sorter.state === "paused", 20_000, "paused");
    await new Promise((resolve) => setTimeout(resolve, 50)); // the skittle in hand is finished first
    const paused = app.sorter.sorted;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(app.sorter.sorted).toBe(paused);
    expect(app.sorter.chutePositions.Red).toBe(30);
    await waitFor(
      () => (hub.reported as { sorting?: { state?: string } }).sorting?.state === "paused",
      5000,
      "reported pause",
    );
    expect(await hub.invoke("resume")).toMatchObject({ status: 200 });
    await waitFor(() => app.sorter.sorted > paused, 20_000, "resumed");
    expect(await hub.invoke("pause")).toMatchObject({ status: 200, payload: { state: "paused" } });
    expect(await hub.invoke("home")).toMatchObject({ status: 200, payload: { parked: true } });
    expect(app.sorter.state).toBe("paused");
    expect(await hub.invoke("resume")).toMatchObject({ status: 200 });
    const summary = await app.done;
    expect(summary.sorting.sorted).toBe(30);
  });

  it("stops gracefully: finishes the skittle in hand, parks, flushes, and logs no secret", async () => {
    const hub = new MemoryHub();
    const fake = await fakeProvisioner();
    const { logger, text } = captureLogger();
    const app = await startSorterApp(config(200), {
      hubConnector: hub,
      provisioner: fake.provisioner,
      logger,
    });
    await waitFor(() => app.sorter.sorted >= 5, 20_000, "sorting");
    const summary = await app.stop();
    expect(summary.stopReason).toBe("requested");
    expect(summary.rig?.accuracy).toBe(1);
    expect(summary.rig?.remaining).toBe(200 - summary.sorting.sorted);
    expect(summary.telemetry?.pending).toBe(0);
    expect(hub.messages).toHaveLength(summary.sorting.sorted);
    expect(hub.connected).toBe(false);
    const log = text();
    expect(log).not.toContain(groupKey);
    expect(log).not.toContain("PRIVATE KEY");
  });

  it("keeps the data directory 0700 and every file in it 0600, even with umask 000", async () => {
    const dataDir = join(dir.path, "data");
    const hub = new MemoryHub();
    const fake = await fakeProvisioner();
    const previousUmask = process.umask(0o000);
    let whileRunning: Record<string, string>;
    let afterRun: Record<string, string>;
    try {
      const app = await startSorterApp(config(20, 0.01, dataDir), {
        hubConnector: hub,
        provisioner: fake.provisioner,
      });
      await waitFor(() => hub.messages.length >= 3, 20_000, "first messages");
      whileRunning = await modesUnder(dataDir);
      await app.done;
      afterRun = await modesUnder(dataDir);
    } finally {
      process.umask(previousUmask);
    }
    // SQLite's write-ahead log and shared-memory index exist while the outbox is open.
    expect(Object.keys(whileRunning)).toEqual(
      expect.arrayContaining(["outbox.sqlite", "outbox.sqlite-wal", "outbox.sqlite-shm", "certs"]),
    );
    expect(Object.keys(afterRun).filter((path) => path.startsWith("certs/"))).toHaveLength(4);
    for (const modes of [whileRunning, afterRun]) {
      for (const [path, mode] of Object.entries(modes)) {
        expect([path, mode]).toEqual([path, path === "." || path === "certs" ? "700" : "600"]);
      }
    }
  });

  it("stamps telemetry with wall-clock time, not the emulated rig's virtual clock", async () => {
    const rigStartMs = Date.parse("2001-02-03T04:05:06.000Z");
    const sorterConfig = config(5, 0);
    const hardware = await openEmulatedHardware(sorterConfig, {
      clock: new VirtualClock({ startMs: rigStartMs }),
    });
    // A wall clock an hour ahead of the system's, so the timestamps can only have come from it.
    const offsetMs = 60 * 60 * 1000;
    const wallClock: Clock = { ...systemClock, now: () => systemClock.now() + offsetMs };
    const hub = new MemoryHub();
    const fake = await fakeProvisioner();
    const startedMs = wallClock.now();
    const app = await startSorterApp(sorterConfig, {
      hubConnector: hub,
      provisioner: fake.provisioner,
      hardware,
      clock: wallClock,
    });
    const summary = await app.done;
    const finishedMs = wallClock.now();
    const stamps = hub.messages.map((m) =>
      Date.parse((JSON.parse(m.body) as { timestamp: string }).timestamp),
    );
    expect(stamps).toHaveLength(5);
    // The loop itself ran on the virtual clock, in 2001.
    expect(summary.sorting.stoppedAtMs).toBeLessThan(Date.parse("2002-01-01T00:00:00Z"));
    for (const stamp of stamps) {
      expect(stamp).toBeGreaterThanOrEqual(startedMs);
      expect(stamp).toBeLessThanOrEqual(finishedMs);
    }
  });
});
