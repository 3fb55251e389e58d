// Item 5, client side: key pair + CSR generation per key type, ours (in process) vs `openssl req -newkey`
// (a process per CSR, as a provisioning script would run it), alternating run by run.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { createCsr, generateKeyPair, type KeyType } from "@skittlesorter/csr";

const run = promisify(execFile);

export interface Input {
  workDir: string;
  keyTypes: KeyType[];
  warmup: number;
  runs: Record<string, number>;
}

export interface Output {
  opensslVersion: string;
  /** `openssl version`: the cost of starting the openssl process at all. */
  opensslStartMs: number[];
  ours: Record<string, number[]>;
  openssl: Record<string, number[]>;
}

const OPENSSL_ARGS: Record<string, string[]> = {
  "ec-p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"],
  "ec-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-sha256"],
  "rsa-2048": ["-newkey", "rsa:2048", "-sha256"],
};

export async function measure(input: Input): Promise<Output> {
  const version = (await run("openssl", ["version"])).stdout.trim();
  const output: Output = { opensslVersion: version, opensslStartMs: [], ours: {}, openssl: {} };
  const keyFile = join(input.workDir, "openssl-bench.key.pem");
  const csrFile = join(input.workDir, "openssl-bench.csr.pem");
  for (const keyType of input.keyTypes) {
    const args = OPENSSL_ARGS[keyType];
    if (args === undefined) throw new Error(`no openssl arguments for ${keyType}`);
    const ours: number[] = [];
    const openssl: number[] = [];
    const runs = input.runs[keyType] ?? 10;
    for (let i = 0; i < input.warmup + runs; i += 1) {
      const commonName = `bench-keygen-${i}`;
      let started = performance.now();
      const keyPair = await generateKeyPair(keyType);
      await createCsr(commonName, keyPair);
      const oursMs = performance.now() - started;

      started = performance.now();
      await run("openssl", [
        "req",
        "-new",
        ...args,
        "-nodes",
        "-keyout",
        keyFile,
        "-subj",
        `/CN=${commonName}`,
        "-out",
        csrFile,
      ]);
      const opensslMs = performance.now() - started;
      if (i >= input.warmup) {
        ours.push(oursMs);
        openssl.push(opensslMs);
      }
    }
    output.ours[keyType] = ours;
    output.openssl[keyType] = openssl;
  }
  for (let i = 0; i < 12; i += 1) {
    const started = performance.now();
    await run("openssl", ["version"]);
    if (i >= 2) output.opensslStartMs.push(performance.now() - started);
  }
  return output;
}
