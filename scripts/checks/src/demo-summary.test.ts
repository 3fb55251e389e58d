import { describe, expect, it } from "vitest";
import { goneLine, type SorterSummary, summaryLines, workDirLine } from "../../demo-support.ts";

const summary: SorterSummary = {
  deviceId: "demo-sorter-01",
  assignedHub: "localhost:40203",
  certificate: { subject: "CN=demo-sorter-01", notAfter: "2027-01-01T00:00:00.000Z", sha256Thumbprint: "AB" },
  sorting: { sorted: 3, byColor: { red: 2, green: 1 }, stopReason: "hopper empty" },
  telemetry: { queued: 3, delivered: 3, pending: 0, dropped: 0 },
  stopReason: "hopper empty",
};

const render = (keepRunning: boolean) =>
  summaryLines({
    attestation: "symmetric-key",
    hubClient: "hub-mqtt",
    summary,
    stored: undefined,
    checks: [{ name: "sorted every skittle", ok: true, detail: "3 of 3" }],
    wallSeconds: 12.34,
    timeScale: 0.1,
    hubName: "skittles-hub",
    dashboardUrl: "http://127.0.0.1:40204/dashboard/",
    keepRunning,
  });

// The demo removes its simulator and working directory when it exits: it must not hand out their URL and path
// as if they were still there.
describe("the demo's summary", () => {
  it("without --keep-running: no dashboard URL, and says the dashboard and directory go away", () => {
    const text = render(false).join("\n");
    expect(text).not.toContain("http://127.0.0.1:40204");
    expect(text).toContain(
      "dashboard:     stops with the simulator when the demo exits (pnpm demo -- --keep-running keeps it up)",
    );
    expect(workDirLine("/tmp/skittle-demo-x", false)).toBe(
      "working directory: /tmp/skittle-demo-x (temporary: removed when the demo exits; --keep-running keeps it)",
    );
    expect(goneLine("/tmp/skittle-demo-x")).toMatch(
      /^The simulator has stopped and \/tmp\/skittle-demo-x has been removed\..*pnpm demo -- --keep-running$/,
    );
  });

  it("with --keep-running: the dashboard URL, and the directory is kept", () => {
    expect(render(true)).toContain(
      "  dashboard:     http://127.0.0.1:40204/dashboard/ (kept running: see below)",
    );
    expect(workDirLine("/tmp/skittle-demo-x", true)).toContain("kept until you press Ctrl-C");
  });

  it("renders the run's facts and each check", () => {
    expect(render(false)).toEqual(
      expect.arrayContaining([
        "  hub client:    hub-mqtt (@skittlesorter/hub-mqtt)",
        "  device:        demo-sorter-01 on localhost:40203 (IoT Hub skittles-hub)",
        "  skittles:      3 sorted: green 1, red 2",
        "  telemetry:     3 sent, 3 delivered, ? stored in the simulator (0 pending, 0 dropped)",
        "  renewal:       issued by DPS, then renewed 0 times through IoT Hub (due 6 s after issuance in the demo, 7 days before expiry by default)",
        "  ✔ sorted every skittle: 3 of 3",
      ]),
    );
  });
});
