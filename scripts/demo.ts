// The main job, end to end on one machine: start the local Azure (skittle-sim), then take a device from
// "just unboxed" to "holding an operational certificate" with the `skittle` CLI: derive its key from the
// enrollment group, register with DPS over MQTT/TLS sending a fresh CSR, and inspect the issued chain.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main as skittle } from "@skittlesorter/cli";
import { startSimulator } from "@skittlesorter/simulator";

const registrationId = "demo-sorter-01";

async function step(title: string, argv: string[]): Promise<string> {
  let out = "";
  let err = "";
  const code = await skittle(argv, {
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      err += text;
    },
    cwd: process.cwd(),
  });
  console.log(`\n== ${title}\n$ skittle ${argv.join(" ")}`);
  if (code !== 0) throw new Error(`${title} failed (exit ${code}): ${err.trim()}`);
  return out;
}

const workDir = await mkdtemp(join(tmpdir(), "skittle-demo-"));
const sim = await startSimulator({ dataDir: join(workDir, "sim") });
try {
  console.log(`skittle-sim ready: DPS ${sim.config.dps.endpoint}, id scope ${sim.config.idScope}`);
  console.log(`dashboard and admin API: ${sim.config.http.url}`);

  const provisioned = JSON.parse(
    await step("Provision with the default enrollment group and a fresh EC P-384 CSR", [
      "provision",
      "--sim",
      sim.configFile,
      "--registration-id",
      registrationId,
      "--csr",
      "--out-dir",
      join(workDir, "device"),
      "--json",
    ]),
  ) as {
    status: string;
    deviceId: string;
    assignedHub: string;
    files: { chain: string; privateKey: string };
  };
  console.log(`status ${provisioned.status}: device ${provisioned.deviceId} on ${provisioned.assignedHub}`);

  const inspected = JSON.parse(
    await step("Inspect the issued chain", ["cert", "inspect", provisioned.files.chain, "--json"]),
  ) as {
    certificates: { subject: string; issuer: string; notAfter: string }[];
    chain: { valid: boolean; problems: string[] };
  };
  for (const cert of inspected.certificates) {
    console.log(`  ${cert.subject}  <- ${cert.issuer}  (until ${cert.notAfter})`);
  }
  const ok =
    provisioned.status === "assigned" &&
    inspected.certificates.length === 3 &&
    inspected.chain.valid === true;
  console.log(
    `\nsummary: device ${provisioned.deviceId}, hub ${provisioned.assignedHub}, ` +
      `leaf ${inspected.certificates[0]?.subject} valid until ${inspected.certificates[0]?.notAfter}, ` +
      `chain of ${inspected.certificates.length} verifies: ${inspected.chain.valid}`,
  );
  if (!ok) process.exitCode = 1;
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await sim.close();
  await rm(workDir, { recursive: true, force: true });
}
