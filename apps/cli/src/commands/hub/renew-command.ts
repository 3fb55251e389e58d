import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { CliError, type CommandContext, usageError } from "@skittlesorter/cli-shell";
import {
  certificateFacts,
  createCsr,
  generateKeyPair,
  isKeyType,
  KEY_TYPES,
  type KeyType,
  writeFileAtomic,
  writePrivateKeyFile,
} from "@skittlesorter/csr";
import { isHubError } from "@skittlesorter/hub-mqtt";
import type { Command } from "commander";
import { deviceFrom, deviceOptions, type HubDeviceOptions, withDevice } from "./device.ts";

interface RenewOptions extends HubDeviceOptions {
  csrKeyType?: string | undefined;
  outDir?: string | undefined;
}

/** Registers `skittle hub renew`. */
export function addRenewCommand(hub: Command, context: (command: Command) => CommandContext): void {
  const renew = hub
    .command("renew")
    .description(
      "Renew the device certificate through the hub: a new key and CSR (CN = device id), the hub's 202 then 200 " +
        "with the chain, checked. Writes {device id}.key.pem (0600) and {device id}.chain.pem to --out-dir; a " +
        "sorter's data directory is not changed (the running sorter renews by itself). A hub without " +
        "certificate management fails with HUB_RENEWAL_UNSUPPORTED: get a new certificate from DPS then " +
        "(skittle provision --csr).",
    )
    .option("--csr-key-type <type>", `key type of the new key (${KEY_TYPES.join(", ")})`, "ec-p384")
    .option("--out-dir <dir>", "where to write the new key and chain", ".");
  deviceOptions(renew.option.bind(renew));
  renew.action(async (options: RenewOptions) => {
    const ctx = context(renew);
    const keyType = checkedKeyType(options.csrKeyType ?? "ec-p384");
    const device = await deviceFrom(options, ctx.io);
    const keyPair = await generateKeyPair(keyType);
    const csr = await createCsr(device.deviceId, keyPair);
    const result = await withDevice(
      device,
      options,
      ctx.io,
      async (client, signal) => {
        try {
          return await client.renewCertificate({
            csr: { wire: csr.wire, publicKey: keyPair.publicKey },
            signal,
          });
        } catch (error) {
          if (isHubError(error) && error.code === "HUB_RENEWAL_UNSUPPORTED") {
            throw new CliError(
              "HUB_RENEWAL_UNSUPPORTED",
              `${device.hostName} does not renew certificates through the hub (${error.message}) Get a new certificate from DPS instead: skittle provision --csr …`,
              { cause: error },
            );
          }
          throw error;
        }
      },
      true,
    );
    const outDir = resolve(ctx.io.cwd, options.outDir ?? ".");
    await mkdir(outDir, { recursive: true });
    const files = {
      privateKey: resolve(outDir, `${device.deviceId}.key.pem`),
      chain: resolve(outDir, `${device.deviceId}.chain.pem`),
    };
    await writePrivateKeyFile(files.privateKey, keyPair.privateKey, { overwrite: true });
    await writeFileAtomic(files.chain, result.chain.bundle, { mode: 0o644 });
    const leaf = certificateFacts(result.chain.pems[0] ?? "");
    const certificate = {
      subject: leaf.subject,
      issuer: leaf.issuer,
      serialNumber: leaf.serialNumber,
      sha256Thumbprint: leaf.sha256Thumbprint,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
    };
    ctx.print(
      {
        deviceId: device.deviceId,
        hub: device.hostName,
        requestId: result.requestId,
        correlationId: result.correlationId,
        keyType,
        certificate,
        files,
      },
      [
        `renewed through ${device.hostName} (request ${result.requestId})`,
        `certificate: ${certificate.subject}, issued by ${certificate.issuer}, valid until ${certificate.notAfter}`,
        `private key: ${files.privateKey} (${keyType}, new)`,
        `chain:       ${files.chain} (${result.chain.pems.length} certificates, leaf first)`,
      ].join("\n"),
    );
  });
}

function checkedKeyType(value: string): KeyType {
  if (!isKeyType(value)) {
    throw usageError(`--csr-key-type must be one of ${KEY_TYPES.join(", ")}, got "${value}"`);
  }
  return value;
}
