import { join } from "node:path";
import type { KeyType } from "@skittlesorter/csr";
import { runClient, startSimProcess } from "../processes.ts";
import type { BenchItem, Row } from "../results.ts";
import { median, ratio, round } from "../stats.ts";
import type { Input, Output, Sample } from "./csr-provision.client.ts";

const KEY_TYPES: KeyType[] = ["ec-p384", "ec-p256", "rsa-2048"];
const NAMES: Record<string, string> = {
  "ec-p384": "EC P-384",
  "ec-p256": "EC P-256",
  "rsa-2048": "RSA-2048",
};

export const csrProvision: BenchItem = {
  id: 2,
  title: "Provisioning with a CSR per key type: latency and the share spent generating the key",
  async run(context) {
    const sim = await startSimProcess({ dataDir: join(context.workDir, "sim"), assignmentDelayMs: 0 });
    let output: Output;
    try {
      const group = sim.config.enrollmentGroups[0];
      if (group?.primaryKey === undefined) throw new Error("the simulator has no symmetric-key group");
      const input: Input = {
        host: sim.config.dps.host,
        port: sim.config.dps.port,
        idScope: sim.config.idScope,
        groupKey: group.primaryKey,
        caFile: sim.config.trustedCaFile,
        keyTypes: KEY_TYPES,
        warmup: 1,
        runs: context.quick ? 2 : 9,
      };
      context.log(`  ${input.warmup} warm-up + ${input.runs} measured runs per key type, rotating`);
      output = await runClient<Output>("csr-provision.client.ts", input, {
        workDir: context.workDir,
        timeoutMs: 300_000,
      });
    } finally {
      await sim.close();
    }
    const rows: Row[] = [];
    const details: Record<string, unknown> = {};
    const p384Total = median((output["ec-p384"] ?? []).map((sample) => sample.totalMs));
    for (const keyType of KEY_TYPES) {
      const samples: Sample[] = output[keyType] ?? [];
      const of = (pick: (sample: Sample) => number): number => median(samples.map(pick));
      const total = of((sample) => sample.totalMs);
      const keyGen = of((sample) => sample.keyGenMs);
      const csr = of((sample) => sample.csrMs);
      const share = of((sample) => sample.keyGenMs / sample.totalMs) * 100;
      details[keyType] = {
        runs: samples.length,
        totalMs: round(total, 1),
        keyGenMs: round(keyGen, 2),
        csrMs: round(csr, 2),
        provisionMs: round(
          of((sample) => sample.provisionMs),
          1,
        ),
        keyGenSharePercent: round(share, 2),
      };
      const name = NAMES[keyType] ?? keyType;
      rows.push(
        {
          measure: `${name}: key + CSR + provisioning, median`,
          unit: "ms",
          ours: round(total, 1),
          ...(keyType === "ec-p384"
            ? {}
            : { baselineName: "EC P-384", baseline: round(p384Total, 1), ratio: ratio(total, p384Total) }),
          better: "lower",
        },
        { measure: `${name}: key generation, median`, unit: "ms", ours: round(keyGen, 2), better: "lower" },
        {
          measure: `${name}: share of the total in key generation`,
          unit: "%",
          ours: round(share, 2),
          better: "lower",
        },
      );
    }
    return {
      status: "ok",
      rows,
      details,
      notes: [
        "One client process provisions fresh registration ids with `@skittlesorter/dps-mqtt`, a new key and CSR each time, rotating the key types run by run after one discarded warm-up round. Each total includes the simulator's 1 s `retry-after` wait, so key generation is a small share of it for EC keys; RSA-2048 key generation is a random prime search, so its time varies from run to run. No official Node client sends a CSR to DPS, so there is no baseline here; the P-384 row is the reference for the others.",
      ],
    };
  },
};
