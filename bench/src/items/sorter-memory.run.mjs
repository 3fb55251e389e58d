// Item 7, the sorter's side, run as a production install runs it: plain Node on the compiled JavaScript (dist/), no
// TypeScript loader. The device app (`startSorterApp`, as `skittle-sorter run` starts it) sorts on the emulated rig,
// with or without telemetry (DPS with a fresh key and CSR, the official hub client, the outbox); the output is the
// process's peak RSS. With `idle`, nothing is loaded: what the Node process itself holds.
// Usage: node sorter-memory.run.mjs INPUT.json OUTPUT.json
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const [inputFile, outputFile] = process.argv.slice(2);
const input = JSON.parse(await readFile(inputFile, "utf8"));
const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

let summary = null;
if (input.idle !== true) {
  const { resolveConfig, startSorterApp } = await import("@skittlesorter/sorter");
  const { dps } = input;
  const config = resolveConfig(
    {
      MockMode: { EnableMockColorSensor: true, EnableMockServos: true },
      EmulatedRig: { Skittles: input.skittles, Seed: 1, TimeScale: 0 },
      IoTHub:
        dps === undefined
          ? { SendTelemetry: false }
          : {
              DeviceId: "{RegistrationId}",
              TwinReportIntervalMs: 0,
              Client: input.client ?? "azure-iot-device",
              DpsProvisioning: {
                ProvisioningHost: dps.endpoint,
                IdScope: dps.idScope,
                RegistrationId: dps.registrationId,
                EnrollmentGroupKeyBase64: dps.groupKey,
              },
            },
      ...(dps === undefined ? {} : { Certificates: { TrustedCaFile: dps.trustedCaFile } }),
    },
    { dataDir: join(input.dataDir, "sorter") },
  );
  const app = await startSorterApp(config);
  summary = await app.done;
}
await writeFile(outputFile, JSON.stringify({ peakRssMiB: peakRssMiB(), summary }));
// The official SDK may leave timers behind; the measurement is done.
process.exit(0);
