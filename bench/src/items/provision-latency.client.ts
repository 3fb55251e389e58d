// Item 1, client side: single-device provisioning latency, symmetric key, no CSR, ours vs the official client,
// alternating run by run (ABAB). Runs with NODE_EXTRA_CA_CERTS = the simulator's root (the official client
// has no other way to trust it).

import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { symmetricKeyAttestation } from "@skittlesorter/attestation";
import { provision } from "@skittlesorter/dps-mqtt";
import provisioningDevice from "azure-iot-provisioning-device";
import provisioningMqtt from "azure-iot-provisioning-device-mqtt";
import symmetricKey from "azure-iot-security-symmetric-key";

// CommonJS packages: their named exports are not all visible to ESM, their default export is.
const { ProvisioningDeviceClient } = provisioningDevice;
const { Mqtt } = provisioningMqtt;
const { SymmetricKeySecurityClient } = symmetricKey;

export interface Input {
  host: string;
  port: number;
  /** `host:port`, the official client's global endpoint. */
  endpoint: string;
  idScope: string;
  groupKey: string;
  caFile: string;
  warmup: number;
  runs: number;
}

export interface Output {
  ours: number[];
  official: number[];
  /** Order in which the measured runs happened, e.g. ["ours", "official", …]. */
  order: string[];
}

export async function measure(input: Input): Promise<Output> {
  const ca = await readFile(input.caFile, "utf8");

  const ours = async (registrationId: string): Promise<void> => {
    await provision({
      host: input.host,
      port: input.port,
      idScope: input.idScope,
      attestation: symmetricKeyAttestation({ registrationId, groupKey: input.groupKey }),
      ca,
      timeoutMs: 60_000,
    });
  };

  const official = (registrationId: string): Promise<void> => {
    const { deviceKey } = symmetricKeyAttestation({ registrationId, groupKey: input.groupKey });
    const client = ProvisioningDeviceClient.create(
      input.endpoint,
      input.idScope,
      new Mqtt(),
      // Two copies of azure-iot-common (1.13.1 and 1.13.2) make the types disagree; the objects fit.
      new SymmetricKeySecurityClient(registrationId, deviceKey) as unknown as Parameters<
        typeof ProvisioningDeviceClient.create
      >[3],
    );
    return new Promise((resolve, reject) => {
      client.register((error?: Error) => (error ? reject(error) : resolve()));
    });
  };

  const result: Output = { ours: [], official: [], order: [] };
  const total = input.warmup + input.runs;
  for (let run = 0; run < total; run += 1) {
    for (const side of ["ours", "official"] as const) {
      const registrationId = `bench-latency-${side}-${run}`;
      const started = performance.now();
      await (side === "ours" ? ours(registrationId) : official(registrationId));
      const elapsed = performance.now() - started;
      if (run >= input.warmup) {
        result[side].push(elapsed);
        result.order.push(side);
      }
    }
  }
  return result;
}
