import { defaultClassifier } from "@skittlesorter/classifier";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config/index.ts";
import { openEmulatedHardware } from "./hardware.ts";
import type { RigItem } from "./rig.ts";
import { type SortedSkittle, Sorter, type SorterOptions } from "./sorter.ts";

function emulatedConfig(extra: Record<string, unknown> = {}) {
  return resolveConfig({
    IoTHub: { SendTelemetry: false },
    EmulatedRig: { Enabled: true, Skittles: 150, Seed: 3 },
    ChutePositions: { Reject: 134 },
    ...extra,
  });
}

async function sortOnRig(
  config = emulatedConfig(),
  options: {
    items?: RigItem[];
    sorter?: Partial<SorterOptions>;
    control?: (sorter: Sorter, skittle: SortedSkittle) => void;
  } = {},
) {
  const hardware = await openEmulatedHardware(config, { items: options.items });
  const sorted: SortedSkittle[] = [];
  const sorter: Sorter = new Sorter({
    sensor: hardware.sensor,
    pick: hardware.pick,
    chute: hardware.chute,
    classifier: defaultClassifier(),
    positions: config.positions,
    chutes: config.chutes,
    clock: hardware.clock,
    onHopperEmpty: "stop",
    onSorted: (skittle) => {
      sorted.push(skittle);
      options.control?.(sorter, skittle);
    },
    ...options.sorter,
  });
  const summary = await sorter.run();
  const report = hardware.rig?.report();
  await hardware.close();
  if (report === undefined) throw new Error("no rig");
  return { summary, report, sorted, sorter };
}

describe("sorting on the emulated rig", () => {
  it("puts every skittle in its bin with waits derived from servo travel and integration time", async () => {
    const { summary, report, sorted } = await sortOnRig();
    expect(report.sorted).toBe(150);
    expect(report.accuracy).toBe(1);
    expect(report.remaining).toBe(0);
    for (const [bin, contents] of Object.entries(report.bins)) {
      expect(Object.keys(contents)).toEqual([bin.toLowerCase()]);
    }
    expect(summary.stopReason).toBe("hopper-empty");
    expect(summary.sorted).toBe(150);
    expect(sorted.every((s) => s.confidence > 0 && s.color !== "Unknown")).toBe(true);
    expect(report.skittlesPerMinute).toBeGreaterThan(0);
  });

  it("misplaces skittles when the chute wait is too short for the real servo (the model bites)", async () => {
    // The sorter believes its chute servo is four times faster than the rig's: it drops before the chute arrives.
    const config = emulatedConfig({
      Hardware: { ChuteServo: { SecondsPer60Deg: 0.05 } },
      EmulatedRig: { Enabled: true, Skittles: 60, Seed: 3, ServoSecondsPer60Deg: 0.2 },
    });
    const { report } = await sortOnRig(config);
    expect(report.sorted).toBe(60);
    expect(report.misplaced).toBeGreaterThan(10);
    expect(report.accuracy).toBeLessThan(0.8);
  });

  it("feeds nothing when the arm wait is too short to reach the hopper", async () => {
    const config = emulatedConfig({
      Hardware: { PickServo: { SecondsPer60Deg: 0.1 } },
      EmulatedRig: { Enabled: true, Skittles: 20, Seed: 3, ServoSecondsPer60Deg: 0.2 },
    });
    const { report, summary } = await sortOnRig(config);
    expect(report.sorted).toBeLessThan(20);
    expect(summary.stopReason).toBe("hopper-empty");
  });

  it("sends unrecognised objects to the reject chute and skips empty picks", async () => {
    const items: RigItem[] = ["red", "unknown", "none", "green", "unknown", "yellow"];
    const { report, sorted, summary } = await sortOnRig(emulatedConfig(), { items });
    expect(report.accuracy).toBe(1);
    expect(report.bins.Reject).toEqual({ unknown: 2 });
    expect(sorted.map((s) => s.color)).toEqual(["Red", "Unknown", "Green", "Unknown", "Yellow"]);
    expect(
      sorted.filter((s) => s.color === "Unknown").every((s) => s.chute === "Reject" && s.chuteAngle === 134),
    ).toBe(true);
    expect(summary.emptyPicks).toBeGreaterThanOrEqual(1);
  });

  it("overlaps the chute move with the arm's move to the drop position", async () => {
    // Sequential moves would cost chute travel + arm travel per skittle; overlapped, only the longer of the two.
    const items: RigItem[] = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "red" : "orange"));
    const config = emulatedConfig();
    const { report } = await sortOnRig(config, { items });
    expect(report.accuracy).toBe(1);
    // The loop waits 0.2 s per 60° plus the travel margin.
    const travel = (deg: number) => (deg / 60) * 200 * (1 + config.hardware.travelMarginPercent / 100);
    const perSkittleSequential = travel(160) + travel(100) + 153.6 + 2.4 + travel(90) + travel(60);
    const perSkittle = report.elapsedMs / (report.sorted - 1);
    expect(perSkittle).toBeLessThan(perSkittleSequential - 150);
  });

  it("stops after the skittle in hand, parks and releases the servos", async () => {
    const { summary, report, sorted } = await sortOnRig(emulatedConfig(), {
      control: (sorter, skittle) => {
        if (skittle.index === 5) sorter.stop();
      },
    });
    expect(summary.stopReason).toBe("requested");
    expect(sorted).toHaveLength(5);
    expect(report.sorted).toBe(5);
    expect(report.accuracy).toBe(1);
    expect(report.remaining).toBe(145); // nothing left in the arm
  });

  it("pauses, parks on home, resumes, and uses changed chute angles", async () => {
    let resumed = false;
    let count = 0;
    const { report, sorted } = await sortOnRig(
      emulatedConfig({ EmulatedRig: { Enabled: true, Skittles: 12, Seed: 5 } }),
      {
        control: (sorter, skittle) => {
          count = skittle.index;
          if (skittle.index === 3) {
            void sorter.home().then(() => {
              expect(sorter.state).toBe("paused");
              setTimeout(() => {
                resumed = count === 3;
                sorter.setChutePositions({ Red: 66, Green: 66, Orange: 66, Yellow: 66, Purple: 66 });
                sorter.resume();
              }, 20);
            });
          }
        },
      },
    );
    expect(resumed).toBe(true);
    expect(sorted).toHaveLength(12);
    expect(sorted.slice(3).every((s) => s.chuteAngle === 66)).toBe(true);
    // Everything after the change landed in the Purple bin (66°), as a real rig would do.
    expect(report.drops.slice(3).every((d) => d.bin === "Purple")).toBe(true);
  });
});
