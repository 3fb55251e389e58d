import { readFileSync } from "node:fs";
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
const SORTER_BIN = new URL("../../../apps/sorter/bin/skittle-sorter.js", import.meta.url);
const SHEBANG = "#!/usr/bin/env -S node";

/** The node flags `skittle-sorter` starts with: the bin's shebang (the systemd unit's ExecStart runs the bin). */
function sorterNodeFlags(): string[] {
  const shebang = readFileSync(SORTER_BIN, "utf8").split("\n")[0] ?? "";
  if (shebang === "#!/usr/bin/env node") return [];
  if (!shebang.startsWith(`${SHEBANG} `))
    throw new Error(`unexpected shebang in ${SORTER_BIN.pathname}: ${shebang}`);
  return shebang.slice(SHEBANG.length).trim().split(/\s+/);
}

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
  /** The node flags of the runs above: those `skittle-sorter` starts with. */
  nodeFlags: string[];
  /** The same runs on plain `node`, without {@link nodeFlags}. */
  plainNodeMiB: number;
  plainNodeHubMqttMiB: number;
  sorted: number;
}

async function sorterMemory(context: BenchContext, skittles: number): Promise<SorterMemory> {
  context.log("  compiling the sorter app (tsc -b apps/sorter), to run it as installed");
  buildPackage("apps/sorter");
  const shipped = sorterNodeFlags();
  const run = (input: SorterInput, nodeFlags: readonly string[] = shipped) =>
    runPlainScript<SorterOutput>("sorter-memory.run.mjs", input, {
      workDir: context.workDir,
      timeoutMs: 300_000,
      nodeFlags,
    });
  const idle = await run({ idle: true, dataDir: join(context.workDir, "idle"), skittles }, []);
  context.log(`  the sorter app on the emulated rig, ${skittles} skittles, telemetry off`);
  const offline = await run({ dataDir: join(context.workDir, "offline"), skittles });
  const sim = await startSimProcess({ dataDir: join(context.workDir, "sorter-sim"), assignmentDelayMs: 0 });
  try {
    const groupKey = sim.config.enrollmentGroups[0]?.primaryKey;
    if (groupKey === undefined) throw new Error("the simulator has no symmetric-key group");
    const online = async (
      client: "azure-iot-device" | "hub-mqtt",
      nodeFlags: readonly string[] = shipped,
    ) => {
      const name = `${client}${nodeFlags === shipped ? "" : "-plain-node"}`;
      context.log(
        `  the same with telemetry: DPS + CSR, IoTHub.Client ${client}, the outbox, node ${nodeFlags.join(" ")}`,
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
    const plainNode = await online("azure-iot-device", []);
    const plainNodeHubMqtt = await online("hub-mqtt", []);
    return {
      idleMiB: round(idle.peakRssMiB, 1),
      offlineMiB: round(offline.peakRssMiB, 1),
      telemetryMiB: round(official.peakRssMiB, 1),
      hubMqttMiB: round(hubMqtt.peakRssMiB, 1),
      delivered: official.summary?.telemetry?.delivered ?? null,
      hubMqttDelivered: hubMqtt.summary?.telemetry?.delivered ?? null,
      nodeFlags: shipped,
      plainNodeMiB: round(plainNode.peakRssMiB, 1),
      plainNodeHubMqttMiB: round(plainNodeHubMqtt.peakRssMiB, 1),
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
        measure: "  [experiment: plain `node`, without the bin's flags] official client",
        unit: "MiB",
        ours: sorter.plainNodeMiB,
        baselineName: "the same, telemetry off",
        baseline: sorter.offlineMiB,
        better: "lower",
      },
      {
        measure: "  [experiment: plain `node`, without the bin's flags] hub-mqtt",
        unit: "MiB",
        ours: sorter.plainNodeHubMqttMiB,
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
        `Sorter: the device app (\`startSorterApp\`, what \`skittle-sorter run\` starts) on the emulated rig sorting ${skittles} skittles as fast as it can, in a process of its own: once with telemetry off, then provisioning with a fresh EC P-384 key and CSR and sending one message per skittle through the SQLite outbox and the official hub client (\`IoTHub.Client\` "azure-iot-device", the default), then the same through the package's own MQTT client ("hub-mqtt"). It runs as an install runs it: Node on the compiled JavaScript (the bench runs \`tsc -b apps/sorter\` first), without the TypeScript loader the other measuring processes use, and with the node flags \`skittle-sorter\` starts with (\`${sorter.nodeFlags.join(" ") || "none"}\`, read from the shebang of apps/sorter/bin/skittle-sorter.js, which the systemd unit's \`ExecStart\` runs). The bench does not run the bin itself: it starts a script that calls \`startSorterApp\` as \`skittle-sorter run\` does, with those flags. The telemetry-off row (the baseline) uses them too; the experiment rows run the same on plain \`node\`. Peak RSS is the process's own \`maxRSS\`; the last row is a Node.js process that loads nothing, for scale.`,
      ],
    };
  },
};
