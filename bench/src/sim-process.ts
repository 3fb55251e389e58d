// Child process: one simulator started with startSimulator(options from argv[2]); prints one JSON line with
// "ready" and the sim.json object, and stops cleanly on SIGTERM/SIGINT.
//
// argv[3] = "no-delay" is an experiment, not the product: it makes every TLS server the simulator creates set
// TCP_NODELAY on its sockets, to measure what Nagle's algorithm costs each MQTT request/answer.
import { createRequire, syncBuiltinESMExports } from "node:module";
import type { StartSimulatorOptions } from "@skittlesorter/simulator";

if (process.argv[3] === "no-delay") {
  const tls = createRequire(import.meta.url)("node:tls") as typeof import("node:tls");
  const createServer = tls.createServer;
  tls.createServer = ((
    options: import("node:tls").TlsOptions,
    listener?: (socket: import("node:tls").TLSSocket) => void,
  ) => createServer({ ...options, noDelay: true }, listener)) as typeof tls.createServer;
  syncBuiltinESMExports();
}

const { startSimulator } = await import("@skittlesorter/simulator");
const options = JSON.parse(process.argv[2] ?? "{}") as StartSimulatorOptions;
const sim = await startSimulator(options);
process.stdout.write(`${JSON.stringify({ event: "ready", config: sim.config })}\n`);
const stop = (): void => {
  sim.close().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`closing the simulator failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
