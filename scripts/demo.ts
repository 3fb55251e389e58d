// The interim main job: the credential path a device takes before it talks to DPS, through the `skittle` CLI.
// (The sorter + simulator demo replaces this once they exist.)
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../apps/cli/src/index.ts";

// Microsoft's documented test vector (a public example key, not a secret of ours).
const groupKey = "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==";
const registrationId = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6";
const expectedDeviceKey = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";

async function step(title: string, argv: string[]): Promise<string> {
  let out = "";
  let err = "";
  const code = await main(argv, {
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      err += text;
    },
    cwd: process.cwd(),
  });
  if (code !== 0) throw new Error(`${title} failed (exit ${code}): ${err.trim()}`);
  const shown = argv.map((arg, i) => (argv[i - 1]?.endsWith("key") ? "***" : arg));
  console.log(`\n== ${title}\n$ skittle ${shown.join(" ")}`);
  return out;
}

const outDir = await mkdtemp(join(tmpdir(), "skittle-demo-"));
try {
  const derived = JSON.parse(
    await step("Derive the device key from the group key", [
      "keys",
      "derive",
      "--group-key",
      groupKey,
      "--registration-id",
      registrationId,
      "--json",
    ]),
  ) as { deviceKey: string };
  console.log(`device key matches Microsoft's test vector: ${derived.deviceKey === expectedDeviceKey}`);
  if (derived.deviceKey !== expectedDeviceKey) process.exitCode = 1;

  const csr = JSON.parse(
    await step("Create an EC P-384 key and a CSR with CN = registration id", [
      "csr",
      "create",
      "--registration-id",
      registrationId,
      "--out-dir",
      outDir,
      "--json",
    ]),
  ) as { keyFile: string; csrFile: string; csrWire: string };
  console.log(`key file: ${csr.keyFile}\nCSR file: ${csr.csrFile}\nDPS csr field: ${csr.csrWire.length} base64 chars`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await rm(outDir, { recursive: true, force: true });
}
