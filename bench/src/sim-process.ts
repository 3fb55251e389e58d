// Child process: one simulator started with startSimulator(options from argv[2]); prints one JSON line with
// "ready" and the sim.json object, and stops cleanly on SIGTERM/SIGINT.
import { type StartSimulatorOptions, startSimulator } from "@skittlesorter/simulator";

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
