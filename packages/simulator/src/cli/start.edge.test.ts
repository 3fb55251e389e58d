import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CliIo } from "@skittlesorter/cli-shell";
import { tempDir } from "@skittlesorter/test-utils";
import { edgeTlsRoot } from "@skittlesorter/test-utils/edge";
import { describe, expect, it } from "vitest";
import { main } from "./program.ts";

describe("skittle-sim start --edge", () => {
  it("serves on localhost with the given --tls-root and prints a ready line without ports", {
    timeout: 60_000,
  }, async () => {
    await using dir = await tempDir("skittle-sim-cli-edge-");
    const root = edgeTlsRoot();
    const [certificate, key] = [join(dir.path, "root.pem"), join(dir.path, "root.key")];
    await writeFile(certificate, root.certificatePem);
    await writeFile(key, root.privateKeyPem, { mode: 0o600 });
    const stop = new AbortController();
    let stdout = "";
    let stderr = "";
    let onReady = (): void => {};
    const ready = new Promise<void>((resolve) => {
      onReady = resolve;
    });
    const io: CliIo = {
      stdout: (text) => {
        stdout += text;
        onReady();
      },
      stderr: (text) => {
        stderr += text;
      },
      cwd: dir.path,
    };
    const dataDir = join(dir.path, "sim");
    const argv = ["start", "--edge", "--data-dir", dataDir, "--tls-root", certificate, "--tls-root-key", key];
    const exited = main([...argv, "--json"], { io, signal: stop.signal });
    await Promise.race([ready, exited.then((code) => Promise.reject(new Error(`exit ${code}: ${stderr}`)))]);
    stop.abort();
    expect(await exited).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      event: "ready",
      edge: true,
      dps: { endpoint: "localhost" },
      hubs: [{ hostname: "localhost" }],
      https: { url: "https://localhost" },
      trustedCa: root.certificatePem,
    });
  });

  it("refuses --tls-root without --tls-root-key, and fixed ports with --edge, naming them", async () => {
    await using dir = await tempDir("skittle-sim-cli-edge-");
    const io: CliIo = { stdout: () => {}, stderr: (text) => void errors.push(text), cwd: dir.path };
    const errors: string[] = [];
    expect(
      await main(["start", "--edge", "--data-dir", dir.path, "--tls-root", "root.pem"], { io }),
    ).not.toBe(0);
    expect(await main(["start", "--edge", "--data-dir", dir.path, "--hub-port", "0"], { io })).not.toBe(0);
    expect(errors.join("")).toMatch(/--tls-root and --tls-root-key go together/);
    expect(errors.join("")).toMatch(/hubPort cannot be combined with edge mode/);
  });
});
