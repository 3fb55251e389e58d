import { join } from "node:path";
import { runClient, startSimProcess } from "../processes.ts";
import type { BenchContext, BenchItem, Row } from "../results.ts";
import { median, percentile, ratio, round } from "../stats.ts";
import type { Input, Output } from "./provision-latency.client.ts";

/** The simulator answers the register request 202 with this retry-after (its minimum, 1 s) for both clients. */
const RETRY_AFTER_MS = 1000;
const BASELINE = "azure-iot-provisioning-device-mqtt 1.8.1";

async function against(context: BenchContext, name: string, runs: number): Promise<Output> {
  // assignmentDelayMs 0: the simulator's shortest retry-after (1 s), the same for both clients.
  const sim = await startSimProcess({ dataDir: join(context.workDir, name), assignmentDelayMs: 0 });
  try {
    const group = sim.config.enrollmentGroups[0];
    if (group?.primaryKey === undefined) throw new Error("the simulator has no symmetric-key group");
    const input: Input = {
      host: sim.config.dps.host,
      port: sim.config.dps.port,
      endpoint: sim.config.dps.endpoint,
      idScope: sim.config.idScope,
      groupKey: group.primaryKey,
      caFile: sim.config.trustedCaFile,
      warmup: 2,
      runs,
    };
    return await runClient<Output>("provision-latency.client.ts", input, {
      workDir: context.workDir,
      env: { NODE_EXTRA_CA_CERTS: sim.config.trustedCaFile },
      timeoutMs: 300_000,
    });
  } finally {
    await sim.close();
  }
}

const rowsOf = (output: Output): Row[] => {
  const ours = median(output.ours);
  const official = median(output.official);
  return [
    {
      measure: "provisioning latency, median",
      unit: "ms",
      ours: round(ours, 1),
      baselineName: BASELINE,
      baseline: round(official, 1),
      ratio: ratio(ours, official),
      better: "lower",
    },
    {
      measure: `  beyond the ${RETRY_AFTER_MS / 1000} s retry-after wait`,
      unit: "ms",
      ours: round(ours - RETRY_AFTER_MS, 1),
      baselineName: BASELINE,
      baseline: round(official - RETRY_AFTER_MS, 1),
      ratio: ratio(ours - RETRY_AFTER_MS, official - RETRY_AFTER_MS),
      better: "lower",
    },
  ];
};

const summary = (samples: number[]): Record<string, unknown> => ({
  median: round(median(samples), 1),
  p90: round(percentile(samples, 90), 1),
  samples: samples.map((value) => round(value, 1)),
});

export const provisionLatency: BenchItem = {
  id: 1,
  title: "Single-device provisioning latency (symmetric key, no CSR): dps-mqtt vs the official client",
  async run(context) {
    const runs = context.quick ? 3 : 15;
    context.log(`  2 warm-up + ${runs} measured runs per client, alternating`);
    const output = await against(context, "sim", runs);
    return {
      status: "ok",
      rows: rowsOf(output),
      details: {
        retryAfterMs: RETRY_AFTER_MS,
        runsPerClient: output.ours.length,
        oursMs: summary(output.ours),
        officialMs: summary(output.official),
      },
      notes: [
        `Both clients provision fresh registration ids against the same simulator process, from one client process, alternating run by run (ours, official, ours, …) after 2 discarded warm-up runs each. The simulator answers every register request with 202 and \`retry-after: 1\`, and both clients wait exactly that long before polling, so ${RETRY_AFTER_MS} ms of each figure is that wait; the second row is what remains: TLS, MQTT CONNECT and SUBSCRIBE, the register and poll round trips, disconnect.`,
        "The simulator sets TCP_NODELAY on every connection it accepts, so its small MQTT answers leave at once instead of waiting for the client's delayed ACK (Nagle's algorithm).",
      ],
    };
  },
};
