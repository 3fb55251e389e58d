import { join } from "node:path";
import type { RunSummary } from "@skittlesorter/sorter";
import {
  buildPackage,
  processRssMiB,
  runClient,
  runPlainScript,
  type SimProcess,
  startSimProcess,
} from "../processes.ts";
import type { BenchContext, BenchItem, Row } from "../results.ts";
import { round } from "../stats.ts";
import type { Input as FleetInput, Output as FleetOutput } from "./fleet.client.ts";

/** What sorter-memory.run.mjs takes and returns. */
interface SorterInput {
  idle?: boolean;
  dataDir: string;
  skittles: number;
  /** \`IoTHub.Client\`; default "azure-iot-device". */
  client?: "azure-iot-device" | "hub-mqtt";
  /** Without it, telemetry is off. */
  dps?: {
    endpoint: string;
    idScope: string;
    groupKey: string;
    registrationId: string;
    trustedCaFile: string;
  };
}
interface SorterOutput {
  peakRssMiB: number;
  summary: RunSummary | null;
}

const REGISTERED = 10_000;
const CONNECTED = 1_000;
const SORTED = 500;
/** V8's young generation at its smallest: fewer scavenges' worth of memory held. */
const SMALL_YOUNG_GENERATION = "--max-semi-space-size=1";

/** Samples a process's RSS every 100 ms; `peak()` is the largest seen so far. */
function rssSampler(pid: number): { peak(): number | null; stop(): void } {
  let peak = processRssMiB(pid);
  const timer = setInterval(() => {
    const rss = processRssMiB(pid);
    if (rss !== null && (peak === null || rss > peak)) peak = rss;
  }, 100);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

interface SimMemory {
  registered: number;
  connected: number;
  idleRssMiB: number | null;
  /** After the first REGISTERED − CONNECTED registrations, nothing connected. */
  registeredRssMiB: number | null;
  /** Peak while the last CONNECTED devices registered, connected to the hub and sent telemetry. */
  peakRssMiB: number | null;
  errors: number;
}

async function simulatorMemory(
  context: BenchContext,
  registered: number,
  connected: number,
): Promise<SimMemory> {
  const sim: SimProcess = await startSimProcess({
    dataDir: join(context.workDir, "sim"),
    assignmentDelayMs: 0,
  });
  try {
    const group = sim.config.enrollmentGroups[0];
    if (group?.primaryKey === undefined) throw new Error("the simulator has no symmetric-key group");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idleRssMiB = processRssMiB(sim.pid);
    const fleet = (prefix: string, devices: number, concurrency: number, telemetry: number) => {
      const input: FleetInput = {
        host: sim.config.dps.host,
        port: sim.config.dps.port,
        idScope: sim.config.idScope,
        groupKey: group.primaryKey as string,
        caFile: sim.config.trustedCaFile,
        devices,
        concurrency,
        prefix,
        minRetryAfterMs: 0,
        maxRetryAfterMs: 0,
        telemetry,
        timeoutMs: 600_000,
      };
      return runClient<FleetOutput>("fleet.client.ts", input, {
        workDir: context.workDir,
        timeoutMs: 900_000,
      });
    };
    context.log(`  registering ${registered - connected} devices (symmetric key)`);
    const first = await fleet("bench-mem-", registered - connected, 200, 0);
    const registeredRssMiB = processRssMiB(sim.pid);
    context.log(`  ${connected} more, all connected to the hub at once, 5 messages each`);
    const sampler = rssSampler(sim.pid);
    let second: FleetOutput;
    try {
      second = await fleet("bench-mem-connected-", connected, connected, 5);
    } finally {
      sampler.stop();
    }
    const errors = [first, second].flatMap((output) => output.report.errors).reduce((n, g) => n + g.count, 0);
    return {
      registered: first.report.provisioning.succeeded + second.report.provisioning.succeeded,
      connected: second.report.telemetry?.connected ?? 0,
      idleRssMiB: idleRssMiB === null ? null : round(idleRssMiB, 1),
      registeredRssMiB: registeredRssMiB === null ? null : round(registeredRssMiB, 1),
      peakRssMiB: sampler.peak() === null ? null : round(sampler.peak() as number, 1),
      errors,
    };
  } finally {
    await sim.close();
  }
}

interface SorterMemory {
  idleMiB: number;
  offlineMiB: number;
  telemetryMiB: number;
  hubMqttMiB: number;
  delivered: number | null;
  hubMqttDelivered: number | null;
  /** Node run with {@link SMALL_YOUNG_GENERATION}. */
  smallYoungMiB: number;
  smallYoungHubMqttMiB: number;
  sorted: number;
}

async function sorterMemory(context: BenchContext, skittles: number): Promise<SorterMemory> {
  context.log("  compiling the sorter app (tsc -b apps/sorter), to run it as installed");
  buildPackage("apps/sorter");
  const run = (input: SorterInput, nodeFlags: readonly string[] = []) =>
    runPlainScript<SorterOutput>("sorter-memory.run.mjs", input, {
      workDir: context.workDir,
      timeoutMs: 300_000,
      nodeFlags,
    });
  const idle = await run({ idle: true, dataDir: join(context.workDir, "idle"), skittles });
  context.log(`  the sorter app on the emulated rig, ${skittles} skittles, telemetry off`);
  const offline = await run({ dataDir: join(context.workDir, "offline"), skittles });
  const sim = await startSimProcess({ dataDir: join(context.workDir, "sorter-sim"), assignmentDelayMs: 0 });
  try {
    const groupKey = sim.config.enrollmentGroups[0]?.primaryKey;
    if (groupKey === undefined) throw new Error("the simulator has no symmetric-key group");
    const online = async (client: "azure-iot-device" | "hub-mqtt", nodeFlags: readonly string[] = []) => {
      const name = `${client}${nodeFlags.join("")}`.replace(/\W+/g, "-");
      context.log(
        `  the same with telemetry: DPS + CSR, IoTHub.Client ${client}, the outbox ${nodeFlags.join(" ")}`,
      );
      const input: SorterInput = {
        dataDir: join(context.workDir, `online-${name}`),
        skittles,
        client,
        dps: {
          endpoint: sim.config.dps.endpoint,
          idScope: sim.config.idScope,
          groupKey,
          registrationId: `bench-sorter-${name}`,
          trustedCaFile: sim.config.trustedCaFile,
        },
      };
      return run(input, nodeFlags);
    };
    const official = await online("azure-iot-device");
    const hubMqtt = await online("hub-mqtt");
    const smallYoung = await online("azure-iot-device", [SMALL_YOUNG_GENERATION]);
    const smallYoungHubMqtt = await online("hub-mqtt", [SMALL_YOUNG_GENERATION]);
    return {
      idleMiB: round(idle.peakRssMiB, 1),
      offlineMiB: round(offline.peakRssMiB, 1),
      telemetryMiB: round(official.peakRssMiB, 1),
      hubMqttMiB: round(hubMqtt.peakRssMiB, 1),
      delivered: official.summary?.telemetry?.delivered ?? null,
      hubMqttDelivered: hubMqtt.summary?.telemetry?.delivered ?? null,
      smallYoungMiB: round(smallYoung.peakRssMiB, 1),
      smallYoungHubMqttMiB: round(smallYoungHubMqtt.peakRssMiB, 1),
      sorted: official.summary?.sorting.sorted ?? 0,
    };
  } finally {
    await sim.close();
  }
}

export const memory: BenchItem = {
  id: 8,
  title:
    "Memory: the simulator with 10,000 registered devices and 1,000 connected; the sorter sending telemetry",
  async run(context) {
    const registered = context.quick ? 1_000 : REGISTERED;
    const connected = context.quick ? 100 : CONNECTED;
    const skittles = context.quick ? 50 : SORTED;
    const sim = await simulatorMemory(context, registered, connected);
    const sorter = await sorterMemory(context, skittles);
    const rows: Row[] = [
      {
        measure: `simulator RSS, peak, ${sim.registered} registered and ${sim.connected} connected`,
        unit: "MiB",
        ours: sim.peakRssMiB,
        better: "lower",
      },
      { measure: `  errors (of ${registered} devices)`, unit: "", ours: sim.errors, better: "lower" },
      { measure: "  simulator RSS, just started", unit: "MiB", ours: sim.idleRssMiB, better: "lower" },
      {
        measure: `  simulator RSS after ${registered - connected} registrations, none connected`,
        unit: "MiB",
        ours: sim.registeredRssMiB,
        better: "lower",
      },
      {
        measure: `sorter RSS, peak, ${sorter.sorted} skittles, telemetry through the official client and the outbox`,
        unit: "MiB",
        ours: sorter.telemetryMiB,
        baselineName: "the same, telemetry off",
        baseline: sorter.offlineMiB,
        better: "lower",
      },
      { measure: "  messages delivered", unit: "", ours: sorter.delivered, better: "higher" },
      {
        measure: "  the same through the package's own hub client (IoTHub.Client hub-mqtt)",
        unit: "MiB",
        ours: sorter.hubMqttMiB,
        baselineName: "the same, telemetry off",
        baseline: sorter.offlineMiB,
        better: "lower",
      },
      { measure: "    messages delivered", unit: "", ours: sorter.hubMqttDelivered, better: "higher" },
      {
        measure: `  [experiment: node ${SMALL_YOUNG_GENERATION}] official client`,
        unit: "MiB",
        ours: sorter.smallYoungMiB,
        baselineName: "the same, telemetry off",
        baseline: sorter.offlineMiB,
        better: "lower",
      },
      {
        measure: `  [experiment: node ${SMALL_YOUNG_GENERATION}] hub-mqtt`,
        unit: "MiB",
        ours: sorter.smallYoungHubMqttMiB,
        baselineName: "the same, telemetry off",
        baseline: sorter.offlineMiB,
        better: "lower",
      },
      {
        measure: "  a Node.js process that loads nothing",
        unit: "MiB",
        ours: sorter.idleMiB,
        better: "lower",
      },
    ];
    return {
      status: "ok",
      rows,
      details: { simulator: sim, sorter },
      notes: [
        `Simulator: one simulator process; a fleet process registers ${registered - connected} devices through DPS (symmetric key, 200 at a time), then ${connected} more that all connect to the simulator's IoT Hub at once through the official client and send 5 messages each. The simulator's RSS is read from /proc, sampled every 100 ms during the second run; its state (registrations, devices, telemetry) lives in SQLite on disk.`,
        `Sorter: the device app (\`startSorterApp\`, what \`skittle-sorter run\` starts) on the emulated rig sorting ${skittles} skittles as fast as it can, in a process of its own: once with telemetry off, then provisioning with a fresh EC P-384 key and CSR and sending one message per skittle through the SQLite outbox and the official hub client (\`IoTHub.Client\` "azure-iot-device", the default), then the same through the package's own MQTT client ("hub-mqtt"). It runs as an install runs it: plain Node on the compiled JavaScript (the bench runs \`tsc -b apps/sorter\` first), without the TypeScript loader the other measuring processes use. Peak RSS is the process's own \`maxRSS\`; the last row is a Node.js process that loads nothing, for scale.`,
      ],
    };
  },
};
