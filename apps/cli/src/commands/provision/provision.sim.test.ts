import { createPublicKey } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { certificateFacts, publicKeysMatch, readPrivateKeyFile, splitPemBundle } from "@skittlesorter/csr";
import { type SimConfigOnDisk, type Simulator, startSimulator } from "@skittlesorter/simulator";
import { openssl, type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

// `skittle provision --sim` against a real simulator: the DPS endpoint, the id scope, the TLS root and the
// default group key all come from sim.json.
describe("skittle provision --sim", () => {
  let dir: TempDir;
  let sim: Simulator<SimConfigOnDisk>;

  beforeAll(async () => {
    dir = await tempDir("skittle-provision-sim-");
    sim = await startSimulator({ dataDir: join(dir.path, "sim") });
  });

  afterAll(async () => {
    await sim?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("gets a 3-certificate chain for a fresh CSR that openssl verifies", async () => {
    const outDir = join(dir.path, "device");
    const run = await runCli([
      "provision",
      "--sim",
      sim.configFile,
      "--registration-id",
      "sorter-sim-01",
      "--csr",
      "--out-dir",
      outDir,
      "--json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      status: string;
      deviceId: string;
      assignedHub: string;
      files: { privateKey: string; chain: string };
    };
    expect(result).toMatchObject({ status: "assigned", deviceId: "sorter-sim-01" });
    expect(sim.config.hubs.map((hub) => hub.hostname)).toContain(result.assignedHub);

    const pems = splitPemBundle(await readFile(result.files.chain, "utf8"));
    expect(pems).toHaveLength(3);
    const [leafPem, issuingPem, rootPem] = pems as [string, string, string];
    await writeFile(join(outDir, "leaf.pem"), leafPem);
    await writeFile(join(outDir, "issuing.pem"), issuingPem);
    await writeFile(join(outDir, "root.pem"), rootPem);
    const verified = await openssl([
      "verify",
      "-CAfile",
      join(outDir, "root.pem"),
      "-untrusted",
      join(outDir, "issuing.pem"),
      join(outDir, "leaf.pem"),
    ]);
    expect(verified.stdout).toContain("leaf.pem: OK");

    const leaf = certificateFacts(leafPem);
    expect(leaf.commonName).toBe("sorter-sim-01");
    const key = await readPrivateKeyFile(result.files.privateKey);
    expect(publicKeysMatch(leaf.publicKey, createPublicKey(key))).toBe(true);
    expect((await stat(result.files.privateKey)).mode & 0o777).toBe(0o600);

    const policyDays = sim.config.adr.credentialPolicies.find(
      (policy) => policy.name === "default",
    )?.validityDays;
    expect(policyDays).toBe(30);
    const validityDays = (leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 86_400_000;
    expect(Math.round(validityDays)).toBe(policyDays);
  });

  it("says where the simulator is missing", async () => {
    const run = await runCli([
      "provision",
      "--sim",
      join(dir.path, "nowhere", "sim.json"),
      "--registration-id",
      "x1",
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("skittle-sim start --data-dir");
  });

  it("needs --sim or --host and --id-scope", async () => {
    const run = await runCli(["provision", "--registration-id", "x1", "--group-key", "a2V5"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--sim DIR (the data directory");
  });
});
