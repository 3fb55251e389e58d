import { join } from "node:path";
import { type SimConfigOnDisk, type Simulator, startSimulator } from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

// The X.509 onboarding path against a real simulator: pki init → pki onboard (upload + proof of possession +
// enrollment group) → pki device → provision with the bootstrap certificate and a CSR.
describe("skittle pki onboard", () => {
  let dir: TempDir;
  let sim: Simulator<SimConfigOnDisk>;
  let caDir: string;

  beforeAll(async () => {
    dir = await tempDir("skittle-pki-onboard-");
    sim = await startSimulator({ dataDir: join(dir.path, "sim") });
    caDir = join(dir.path, "ca");
    const init = await runCli(["pki", "init", "--name", "fleet", "--out-dir", caDir]);
    expect(init.code, init.stderr).toBe(0);
  });

  afterAll(async () => {
    await sim?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("uploads and verifies both CAs, creates the group, and a bootstrap device then provisions with a CSR", async () => {
    const onboard = await runCli(["pki", "onboard", "--sim", sim.configFile, "--ca-dir", caDir, "--json"]);
    expect(onboard.stderr).toBe("");
    expect(onboard.code).toBe(0);
    expect(JSON.parse(onboard.stdout)).toMatchObject({
      certificates: [
        { name: "fleet-root", uploaded: true, verified: true },
        { name: "fleet-intermediate", uploaded: true, verified: true },
      ],
      enrollmentGroup: { id: "fleet-x509", caName: "fleet-intermediate", credentialPolicy: "default" },
    });

    const listed = await runCli(["pki", "onboard", "--sim", sim.configFile, "--ca-dir", caDir, "--json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).certificates).toMatchObject([
      { uploaded: false, verified: true },
      { uploaded: false, verified: true },
    ]);

    const device = await runCli(["pki", "device", "--ca-dir", caDir, "--registration-id", "x509-sorter-01"]);
    expect(device.code, device.stderr).toBe(0);
    const provisioned = await runCli([
      "provision",
      "--sim",
      sim.configFile,
      "--cert",
      join(caDir, "x509-sorter-01-device.full-chain.pem"),
      "--key",
      join(caDir, "x509-sorter-01-device.key.pem"),
      "--csr",
      "--out-dir",
      join(dir.path, "device"),
      "--json",
    ]);
    expect(provisioned.stderr).toBe("");
    expect(provisioned.code).toBe(0);
    const result = JSON.parse(provisioned.stdout) as {
      status: string;
      deviceId: string;
      issuedCertificateChain: { pems: string[] };
    };
    expect(result.status).toBe("assigned");
    expect(result.deviceId).toBe("x509-sorter-01");
    expect(result.issuedCertificateChain.pems).toHaveLength(3);
  });

  it("refuses a CA directory with nothing in it", async () => {
    const run = await runCli([
      "pki",
      "onboard",
      "--sim",
      sim.configFile,
      "--ca-dir",
      join(dir.path, "empty"),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/pki init/);
  });

  it("says when the simulator is not running", async () => {
    const run = await runCli([
      "pki",
      "onboard",
      "--sim",
      join(dir.path, "none", "sim.json"),
      "--ca-dir",
      caDir,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("skittle-sim start --data-dir");
  });
});
