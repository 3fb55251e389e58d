// Item 4's baseline broker: Eclipse Mosquitto (the Debian package), found or installed through
// scripts/setup-system.sh --bench, the script `pnpm test` uses for its own system tools.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer, connect as tcpConnect } from "node:net";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
// Debian installs the broker in /usr/sbin, which is not on every user's PATH.
const searchPath = [process.env.PATH ?? "", "/usr/sbin", "/usr/local/sbin", "/sbin"].join(delimiter);
const MISSING =
  "mosquitto (item 4's baseline broker) is not installed: run `bash scripts/setup-system.sh --bench` " +
  "(it installs the Debian/Ubuntu package mosquitto with apt), or install mosquitto yourself " +
  "(e.g. brew install mosquitto) and put it on PATH, then run the bench again";

const locate = (): string | undefined => {
  const found = spawnSync("bash", ["-c", "command -v mosquitto"], {
    encoding: "utf8",
    env: { ...process.env, PATH: searchPath },
  });
  const path = found.stdout.trim();
  return found.status === 0 && path !== "" ? path : undefined;
};

/** The mosquitto binary and its version; installs it (Debian/Ubuntu, apt) when it is missing. */
export function findMosquitto(log: (message: string) => void): { path: string; version: string } {
  let path = locate();
  if (path === undefined) {
    log("  mosquitto is missing: bash scripts/setup-system.sh --bench");
    const setup = spawnSync("bash", [join(root, "scripts", "setup-system.sh"), "--bench"], {
      encoding: "utf8",
      env: { ...process.env, PATH: searchPath },
    });
    if (setup.status !== 0) throw new Error(`${MISSING} (setup-system: ${setup.stderr.trim()})`);
    path = locate();
  }
  if (path === undefined) throw new Error(MISSING);
  // `mosquitto -h` prints "mosquitto version 2.0.11" first and exits with 3.
  const help = spawnSync(path, ["-h"], { encoding: "utf8" });
  const version = /mosquitto version (\S+)/.exec(`${help.stdout}${help.stderr}`)?.[1] ?? "unknown";
  return { path, version };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || address === null) throw new Error("no free port");
  return address.port;
}

const accepting = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

export interface MosquittoBroker {
  port: number;
  pid: number;
  close(): Promise<void>;
}

export interface MosquittoOptions {
  binary: string;
  dir: string;
  /** Server certificate (PEM) and its key: the simulator's own, so clients trust it as they trust the hub. */
  certFile: string;
  keyFile: string;
  /** Roots that device certificates must chain to (client certificates are required). */
  clientCaFile: string;
}

/** Starts mosquitto on a free loopback port: MQTT over TLS with required client certificates, no persistence. */
export async function startMosquitto(options: MosquittoOptions): Promise<MosquittoBroker> {
  const port = await freePort();
  const config = join(options.dir, "mosquitto.conf");
  await writeFile(
    config,
    [
      "per_listener_settings false",
      "allow_anonymous true",
      "persistence false",
      "log_dest stderr",
      "log_type error",
      // Run as root, mosquitto would switch to user "mosquitto", which cannot read the bench's private files.
      ...(process.getuid?.() === 0 ? ["user root"] : []),
      // Every address "localhost" has (the hub's host name in the issued credentials).
      `listener ${port} localhost`,
      `certfile ${options.certFile}`,
      `keyfile ${options.keyFile}`,
      `cafile ${options.clientCaFile}`,
      "require_certificate true",
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(options.binary, ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!(await accepting(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`mosquitto did not start on port ${port}: ${stderr.trim() || "no output"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    pid: child.pid as number,
    async close() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
