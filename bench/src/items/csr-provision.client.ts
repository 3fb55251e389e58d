// Item 2, client side: provisioning with a CSR per key type; key generation, CSR creation and provisioning timed
// separately, key types rotated run by run.
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { symmetricKeyAttestation } from "@skittlesorter/attestation";
import { createCsr, generateKeyPair, type KeyType } from "@skittlesorter/csr";
import { provision } from "@skittlesorter/dps-mqtt";

export interface Input {
  host: string;
  port: number;
  idScope: string;
  groupKey: string;
  caFile: string;
  keyTypes: KeyType[];
  warmup: number;
  runs: number;
}

export interface Sample {
  keyGenMs: number;
  csrMs: number;
  provisionMs: number;
  totalMs: number;
}

export type Output = Record<string, Sample[]>;

export async function measure(input: Input): Promise<Output> {
  const ca = await readFile(input.caFile, "utf8");
  const output: Output = Object.fromEntries(input.keyTypes.map((keyType) => [keyType, []]));
  for (let run = 0; run < input.warmup + input.runs; run += 1) {
    for (const keyType of input.keyTypes) {
      const registrationId = `bench-csr-${keyType}-${run}`;
      const started = performance.now();
      const keyPair = await generateKeyPair(keyType);
      const keyDone = performance.now();
      const csr = await createCsr(registrationId, keyPair);
      const csrDone = performance.now();
      const result = await provision({
        host: input.host,
        port: input.port,
        idScope: input.idScope,
        attestation: symmetricKeyAttestation({ registrationId, groupKey: input.groupKey }),
        csr: { wire: csr.wire, publicKey: keyPair.publicKey },
        ca,
        timeoutMs: 60_000,
      });
      const done = performance.now();
      if (result.issuedCertificateChain === undefined)
        throw new Error(`no certificate issued for ${keyType}`);
      if (run >= input.warmup) {
        output[keyType]?.push({
          keyGenMs: keyDone - started,
          csrMs: csrDone - keyDone,
          provisionMs: done - csrDone,
          totalMs: done - started,
        });
      }
    }
  }
  return output;
}
