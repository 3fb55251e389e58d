// Item 7, the sorter's side: the device app (`startSorterApp`, as `skittle-sorter run` starts it) on the emulated rig,
// with or without telemetry (DPS with a fresh key and CSR, the official hub client, the outbox), in this process
// alone; reports the process's peak RSS. With `idle`, only what every client process holds (Node, the loader).
import { join } from "node:path";
import { type RunSummary, resolveConfig, startSorterApp } from "@skittlesorter/sorter";

export interface Input {
  idle?: boolean;
  dataDir: string;
  skittles: number;
  /** Without it, telemetry is off. */
  dps?: {
    endpoint: string;
    idScope: string;
    groupKey: string;
    registrationId: string;
    trustedCaFile: string;
  };
}

export interface Output {
  /** Peak resident set size of this process (`process.resourceUsage().maxRSS`). */
  peakRssMiB: number;
  summary: RunSummary | null;
}

const peakRssMiB = (): number => process.resourceUsage().maxRSS / 1024;

export async function measure(input: Input): Promise<Output> {
  if (input.idle === true) return { peakRssMiB: peakRssMiB(), summary: null };
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
              Client: "azure-iot-device",
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
  const summary = await app.done;
  return { peakRssMiB: peakRssMiB(), summary };
}
