import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import type { SimConfigOnDisk } from "../config.ts";
import { runCli, startTestSim } from "../sim.test-support.ts";
import { main } from "./program.ts";

const packageDir = fileURLToPath(new URL("../..", import.meta.url));

describe("skittle-sim CLI", () => {
  it("starts, prints one ready line, serves its subcommands, and stops cleanly on SIGTERM", async () => {
    await using dir = await tempDir("skittle-sim-cli-");
    const child = spawn(
      process.execPath,
      [
        "--conditions=@skittlesorter/source",
        "--import",
        "tsx",
        "src/cli-main.ts",
        "start",
        "--data-dir",
        dir.path,
        "--dps-port",
        "0",
        "--dps-ws-port",
        "0",
        "--hub-port",
        "0",
        "--http-port",
        "0",
        "--assignment-delay-ms",
        "250",
        "--json",
      ],
      { cwd: packageDir, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${stderr}`)), 25_000);
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes("\n")) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then((code) => reject(new Error(`exited ${code} before ready: ${stderr}`)));
      });
      const ready = JSON.parse(stdout.split("\n")[0] ?? "") as { event: string };
      expect(ready.event).toBe("ready");
      const config = JSON.parse(await readFile(join(dir.path, "sim.json"), "utf8")) as SimConfigOnDisk;
      expect(ready).toEqual({ event: "ready", ...config });
      expect(config).toMatchObject({
        idScope: expect.stringMatching(/^0ne[0-9A-F]{8}$/),
        dps: { host: "127.0.0.1", port: expect.any(Number) },
        hubs: [{ hostname: `localhost:${config.hubs[0]?.port}`, host: "127.0.0.1" }],
        http: { url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) },
        https: { url: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/) },
        enrollmentGroups: [
          {
            id: "skittlesorter",
            attestation: "symmetricKey",
            primaryKey: expect.any(String),
            credentialPolicy: "default",
          },
        ],
        adr: { namespace: "skittle-ns", token: expect.any(String), subscriptionId: expect.any(String) },
        settings: { assignmentDelayMs: 250 },
      });
      expect((await stat(join(dir.path, "sim.json"))).mode & 0o777).toBe(0o600);
      expect((await stat(config.trustedCaFile)).isFile()).toBe(true);

      const created = await runCli(["enrollment", "create", "cli-group", "--data-dir", dir.path, "--json"]);
      expect(created.code).toBe(0);
      expect(JSON.parse(created.stdout)).toMatchObject({
        id: "cli-group",
        kind: "group",
        attestation: { type: "symmetricKey" },
      });
      const custom = await runCli([
        "enrollment",
        "create",
        "cli-custom",
        "--allocation",
        "custom",
        "--webhook",
        "http://127.0.0.1:9/allocate",
        "--reprovision",
        "reset",
        "--initial-twin",
        '{"tags":{"site":"lab"}}',
        "--data-dir",
        dir.path,
        "--json",
      ]);
      expect(JSON.parse(custom.stdout)).toMatchObject({
        allocationPolicy: "custom",
        customAllocationDefinition: { webhookUrl: "http://127.0.0.1:9/allocate" },
        reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: false },
        initialTwin: { tags: { site: "lab" }, properties: { desired: {} } },
      });
      await runCli(["enrollment", "delete", "cli-custom", "--data-dir", dir.path]);
      const duplicate = await runCli(["enrollment", "create", "cli-group", "--data-dir", dir.path]);
      expect(duplicate.code).toBe(1);
      expect(duplicate.stderr).toContain("already exists");
      const listed = await runCli(["enrollment", "list", "--data-dir", dir.path]);
      expect(listed.stdout).toMatch(/cli-group\s+group\s+symmetricKey\s+true/);
      const disabled = await runCli(["enrollment", "disable", "cli-group", "--data-dir", dir.path]);
      expect(disabled.stdout).toBe("disabled cli-group\n");
      const shown = await runCli(["enrollment", "show", "cli-group", "--data-dir", dir.path, "--json"]);
      expect(JSON.parse(shown.stdout)).toMatchObject({ enabled: false });
      const reread = JSON.parse(await readFile(join(dir.path, "sim.json"), "utf8")) as SimConfigOnDisk;
      expect(reread.enrollmentGroups.map((group) => group.id)).toEqual(["skittlesorter", "cli-group"]);
      const deleted = await runCli(["enrollment", "delete", "cli-group", "--data-dir", dir.path]);
      expect(deleted.code).toBe(0);
      const missing = await runCli(["enrollment", "show", "cli-group", "--data-dir", dir.path]);
      expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining("SIM_ADMIN_REQUEST") });
      const policies = await runCli(["policy", "list", "--data-dir", dir.path]);
      expect(policies.stdout).toMatch(/default\s+30/);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain("stopped");
    await expect(stat(join(dir.path, "sim.json"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("says when no simulator runs, and exits 2 on usage errors", async () => {
    await using dir = await tempDir("skittle-sim-cli-");
    const notRunning = await runCli(["registration", "list", "--data-dir", dir.path]);
    expect(notRunning.code).toBe(1);
    expect(notRunning.stderr).toMatch(/SIM_NOT_RUNNING.*skittle-sim start --data-dir/);
    const usage = await runCli(["registration", "list"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--data-dir");
    const badPort = await runCli(["start", "--data-dir", dir.path, "--dps-port", "99999"]);
    expect(badPort.code).toBe(2);
  });

  it("takes the data directory or the sim.json in it, and its hint always names the directory", async () => {
    await using dir = await tempDir("skittle-sim-cli-");
    for (const given of [dir.path, join(dir.path, "sim.json")]) {
      const notRunning = await runCli(["device", "list", "--data-dir", given]);
      expect(notRunning.code).toBe(1);
      expect(notRunning.stderr).toContain(`skittle-sim start --data-dir ${dir.path}\n`);
    }
    const sim = await startTestSim();
    try {
      for (const given of [sim.dir.path, sim.sim.configFile]) {
        const list = await runCli(["settings", "show", "--json", "--data-dir", given]);
        expect({ code: list.code, stderr: list.stderr }).toEqual({ code: 0, stderr: "" });
        expect(JSON.parse(list.stdout)).toHaveProperty("assignmentDelayMs");
      }
    } finally {
      await sim.close();
    }
  });

  it("--tls-handshake-timeout-ms reaches the endpoints: a connection that never starts TLS is closed", {
    timeout: 30_000,
  }, async () => {
    await using dir = await tempDir("skittle-sim-cli-");
    const zero = await runCli(["start", "--data-dir", dir.path, "--tls-handshake-timeout-ms", "0"]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("--tls-handshake-timeout-ms");

    const stop = new AbortController();
    let stdout = "";
    const io = {
      stdout: (text: string) => {
        stdout += text;
      },
      stderr: () => {},
    };
    const running = main(
      [
        "start",
        "--data-dir",
        dir.path,
        "--dps-port",
        "0",
        "--hub-port",
        "0",
        "--http-port",
        "0",
        "--json",
      ].concat(["--tls-handshake-timeout-ms", "200", "--log-level", "silent"]),
      { io, signal: stop.signal },
    );
    try {
      while (!stdout.includes("\n")) await new Promise((resolve) => setTimeout(resolve, 20));
      const ready = JSON.parse(stdout.split("\n")[0] ?? "") as SimConfigOnDisk;
      // A plain TCP connection that sends no ClientHello: without the option it would stay open 10 s.
      const socket = connect(ready.dps.port, ready.dps.host);
      const closed = await new Promise<boolean>((resolve) => {
        const guard = setTimeout(() => resolve(false), 8_000);
        socket.once("close", () => {
          clearTimeout(guard);
          resolve(true);
        });
      });
      expect(closed).toBe(true);
    } finally {
      stop.abort();
      expect(await running).toBe(0);
    }
  });
});
