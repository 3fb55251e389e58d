import type { CommandContext } from "@skittlesorter/cli-shell";
import { CliError } from "@skittlesorter/cli-shell";
import {
  certificateFacts,
  generateKeyPair,
  issueCertificate,
  type KeyType,
  verifyChain,
  writePrivateKeyFile,
} from "@skittlesorter/csr";
import type { Command } from "commander";
import { checkedRegistrationId } from "../../registration-id-option.ts";
import { chooseCaName, keyTypeOption, PKI_DEFAULT_DAYS, parseDays, resolvePath } from "./args.ts";
import { type PkiCertificateSummary, summary } from "./certificate-summary.ts";
import { caFiles, type DeviceFiles, deviceFiles } from "./layout.ts";
import {
  bundle,
  ensureDirectory,
  readCaCertificate,
  readCaKey,
  refuseExisting,
  writeCertificate,
} from "./pem-files.ts";

/** What `skittle pki device --json` prints. */
export interface PkiDeviceResult {
  registrationId: string;
  caName: string;
  keyType: KeyType;
  files: DeviceFiles;
  certificate: PkiCertificateSummary;
}

interface DeviceOptions {
  caDir: string;
  registrationId: string;
  name?: string | undefined;
  outDir?: string | undefined;
  days: string;
  keyType: KeyType;
  force?: boolean | undefined;
  json?: boolean | undefined;
}

/** Registers `skittle pki device`. */
export function addDeviceCommand(pki: Command, context: (command: Command) => CommandContext): void {
  const device = pki
    .command("device")
    .description(
      "Issue a bootstrap (onboarding) device certificate from the intermediate CA in --ca-dir: CN and SAN DNS = " +
        "the registration id, extendedKeyUsage clientAuth, keyUsage digitalSignature (+ keyEncipherment for RSA " +
        "keys). Writes {id}-device.cert.pem, {id}-device.key.pem (0600) and {id}-device.full-chain.pem " +
        "(leaf, intermediate, root).",
    )
    .requiredOption("--ca-dir <dir>", "CA directory written by `skittle pki init`")
    .requiredOption("--registration-id <id>", "DPS registration id; becomes CN and SAN DNS (lowercased)")
    .option("--name <name>", "CA name in --ca-dir (needed only when it holds several CAs)")
    .option("--out-dir <dir>", "where to write the device files (default: --ca-dir)")
    .option("--days <n>", "certificate lifetime in days", String(PKI_DEFAULT_DAYS.device))
    .addOption(keyTypeOption("the device key (the original used rsa-2048)"))
    .option("--force", "replace an existing device key")
    .option("--json", "print JSON")
    .action(async (options: DeviceOptions) => {
      const ctx = context(device);
      const registrationId = checkedRegistrationId(options.registrationId);
      const days = parseDays("--days", options.days);
      const caDir = resolvePath(ctx, "--ca-dir", options.caDir);
      const caName = await chooseCaName(caDir, options.name);
      const ca = caFiles(caDir, caName);
      const outDir = await ensureDirectory(
        options.outDir === undefined ? caDir : resolvePath(ctx, "--out-dir", options.outDir),
        "--out-dir",
      );
      const files = deviceFiles(outDir, registrationId);
      if (options.force !== true) await refuseExisting([files.key]);

      const intermediatePem = await readCaCertificate(ca.intermediateCert, caDir, caName);
      const rootPem = await readCaCertificate(ca.rootCert, caDir, caName);
      const intermediateKey = await readCaKey(ca.intermediateKey, caDir, caName);
      const keyPair = await generateKeyPair(options.keyType);
      const leafPem = await issueCertificate({
        publicKey: keyPair.publicKey,
        commonName: registrationId,
        issuer: { certificatePem: intermediatePem, privateKey: intermediateKey },
        validityDays: days,
        dnsNames: [registrationId],
        extendedKeyUsage: ["clientAuth"],
        // As the original's [v3_req]: basicConstraints=CA:FALSE, not critical.
        criticalBasicConstraints: false,
      });
      const check = verifyChain([leafPem, intermediatePem, rootPem]);
      if (!check.valid) {
        throw new CliError(
          "CHAIN_INVALID",
          `The device certificate does not chain to ${ca.rootCert}: ${check.problems.join("; ")}. ` +
            `The CA files in ${caDir} do not belong together; recreate them with \`skittle pki init\`.`,
        );
      }
      await writePrivateKeyFile(files.key, keyPair.privateKey, { overwrite: options.force === true });
      await writeCertificate(files.cert, leafPem);
      await writeCertificate(files.fullChain, bundle([leafPem, intermediatePem, rootPem]));

      const result: PkiDeviceResult = {
        registrationId,
        caName,
        keyType: options.keyType,
        files,
        certificate: summary(certificateFacts(leafPem)),
      };
      ctx.print(
        result,
        [
          `Device certificate: ${files.cert}`,
          `                    CN=${registrationId}, DNS:${registrationId}, clientAuth, issued by ${result.certificate.issuer}`,
          `                    until ${result.certificate.notAfter}, SHA-1 ${result.certificate.sha1Thumbprint}`,
          `Device key:         ${files.key} (${options.keyType}, mode 0600; keep it secret)`,
          `Full chain:         ${files.fullChain} (leaf, intermediate, root)`,
        ].join("\n"),
      );
    });
}
