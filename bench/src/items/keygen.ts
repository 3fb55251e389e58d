import type { KeyType } from "@skittlesorter/csr";
import { runClient } from "../processes.ts";
import type { BenchItem, Row } from "../results.ts";
import { median, ratio, round } from "../stats.ts";
import type { Input, Output } from "./keygen.client.ts";

const KEY_TYPES: KeyType[] = ["ec-p384", "ec-p256", "rsa-2048"];
const NAMES: Record<string, string> = {
  "ec-p384": "EC P-384",
  "ec-p256": "EC P-256",
  "rsa-2048": "RSA-2048",
};

export const keygen: BenchItem = {
  id: 5,
  title: "Key + CSR generation per key type vs `openssl req -newkey`",
  async run(context) {
    const input: Input = {
      workDir: context.workDir,
      keyTypes: KEY_TYPES,
      warmup: 2,
      runs: context.quick
        ? { "ec-p384": 3, "ec-p256": 3, "rsa-2048": 3 }
        : { "ec-p384": 25, "ec-p256": 25, "rsa-2048": 15 },
    };
    context.log("  ours in process, openssl as a process per CSR, alternating");
    const output = await runClient<Output>("keygen.client.ts", input, {
      workDir: context.workDir,
      timeoutMs: 300_000,
    });
    const rows: Row[] = [];
    const details: Record<string, unknown> = {
      opensslVersion: output.opensslVersion,
      opensslStartMs: round(median(output.opensslStartMs), 2),
    };
    const baselineName = output.opensslVersion.split(" ").slice(0, 2).join(" ");
    for (const keyType of KEY_TYPES) {
      const ours = median(output.ours[keyType] ?? []);
      const openssl = median(output.openssl[keyType] ?? []);
      details[keyType] = {
        runs: output.ours[keyType]?.length ?? 0,
        oursMs: round(ours, 2),
        opensslMs: round(openssl, 2),
      };
      rows.push({
        measure: `${NAMES[keyType] ?? keyType}: key pair + CSR, median`,
        unit: "ms",
        ours: round(ours, 2),
        baselineName: `\`openssl req -newkey\` (${baselineName})`,
        baseline: round(openssl, 2),
        ratio: ratio(ours, openssl),
        better: "lower",
      });
    }
    rows.push({
      measure: "  openssl process start alone (`openssl version`)",
      unit: "ms",
      ours: null,
      baselineName: baselineName,
      baseline: round(median(output.opensslStartMs), 2),
      better: "lower",
    });
    return {
      status: "ok",
      rows,
      details,
      notes: [
        "Ours: `generateKeyPair` + `createCsr` from @skittlesorter/csr in one Node process (the key and CSR stay in memory). openssl: `openssl req -new -newkey … -nodes -keyout … -subj /CN=… -out …`, one process per CSR as a provisioning script would run it (it also writes the key and the CSR to files); its process start alone is the last row. Same hash as ours (SHA-384 for P-384, SHA-256 otherwise). Runs alternate ours/openssl after two discarded warm-up runs each.",
      ],
    };
  },
};
