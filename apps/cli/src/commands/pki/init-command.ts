import type { CommandContext } from "@skittlesorter/cli-shell";
import {
  certificateFacts,
  createCertificateAuthority,
  type KeyType,
  writePrivateKeyFile,
} from "@skittlesorter/csr";
import type { Command } from "commander";
import { checkedCaName, keyTypeOption, PKI_DEFAULT_DAYS, parseDays, resolvePath } from "./args.ts";
import { type PkiCertificateSummary, summary } from "./certificate-summary.ts";
import { type CaFiles, caFiles } from "./layout.ts";
import { bundle, ensureDirectory, refuseExisting, writeCertificate } from "./pem-files.ts";

/** What `skittle pki init --json` prints. */
export interface PkiInitResult {
  name: string;
  keyType: KeyType;
  caDir: string;
  files: CaFiles;
  root: PkiCertificateSummary;
  intermediate: PkiCertificateSummary;
}

interface InitOptions {
  name: string;
  outDir: string;
  keyType: KeyType;
  rootDays: string;
  intermediateDays: string;
  force?: boolean | undefined;
  json?: boolean | undefined;
}

/** Registers `skittle pki init`. */
export function addInitCommand(pki: Command, context: (command: Command) => CommandContext): void {
  const init = pki
    .command("init")
    .description(
      "Create a root CA (CN {name}-root) and an intermediate CA (CN {name}-intermediate) signed by it, " +
        "plus the chain bundle, in --out-dir. basicConstraints critical CA:true (pathlen 1 / 0), keyUsage " +
        "critical keyCertSign+cRLSign, subject and authority key identifiers. Refuses to replace existing keys " +
        "without --force.",
    )
    .requiredOption("--name <name>", "CA name: prefix of the CNs and files (letters, digits, . _ -)")
    .requiredOption("--out-dir <dir>", "CA directory (created if missing)")
    .addOption(keyTypeOption("both CA keys (the original used rsa-4096)"))
    .option("--root-days <n>", "root CA lifetime in days", String(PKI_DEFAULT_DAYS.root))
    .option(
      "--intermediate-days <n>",
      "intermediate CA lifetime in days",
      String(PKI_DEFAULT_DAYS.intermediate),
    )
    .option("--force", "replace existing CA keys and certificates")
    .option("--json", "print JSON")
    .action(async (options: InitOptions) => {
      const ctx = context(init);
      const name = checkedCaName(options.name);
      const rootDays = parseDays("--root-days", options.rootDays);
      const intermediateDays = parseDays("--intermediate-days", options.intermediateDays);
      const caDir = await ensureDirectory(resolvePath(ctx, "--out-dir", options.outDir), "--out-dir");
      const files = caFiles(caDir, name);
      if (options.force !== true) await refuseExisting([files.rootKey, files.intermediateKey]);

      const root = await createCertificateAuthority({
        commonName: `${name}-root`,
        keyType: options.keyType,
        validityDays: rootDays,
        pathLength: 1,
      });
      const intermediate = await createCertificateAuthority({
        commonName: `${name}-intermediate`,
        keyType: options.keyType,
        validityDays: intermediateDays,
        pathLength: 0,
        issuer: root,
      });
      const overwrite = options.force === true;
      await writePrivateKeyFile(files.rootKey, root.privateKey, { overwrite });
      await writeCertificate(files.rootCert, root.certificatePem);
      await writePrivateKeyFile(files.intermediateKey, intermediate.privateKey, { overwrite });
      await writeCertificate(files.intermediateCert, intermediate.certificatePem);
      await writeCertificate(files.chain, bundle([intermediate.certificatePem, root.certificatePem]));

      const result: PkiInitResult = {
        name,
        keyType: options.keyType,
        caDir,
        files,
        root: summary(certificateFacts(root.certificatePem)),
        intermediate: summary(certificateFacts(intermediate.certificatePem)),
      };
      ctx.print(
        result,
        [
          `Root CA:          ${files.rootCert}`,
          `                  ${result.root.subject}, pathlen 1, until ${result.root.notAfter}`,
          `                  SHA-1 ${result.root.sha1Thumbprint}`,
          `Root key:         ${files.rootKey} (${options.keyType}, mode 0600; keep it offline)`,
          `Intermediate CA:  ${files.intermediateCert}`,
          `                  ${result.intermediate.subject}, pathlen 0, until ${result.intermediate.notAfter}`,
          `                  SHA-1 ${result.intermediate.sha1Thumbprint}`,
          `Intermediate key: ${files.intermediateKey} (${options.keyType}, mode 0600)`,
          `Chain bundle:     ${files.chain} (intermediate + root)`,
          "",
          `Next: skittle pki device --ca-dir ${caDir} --registration-id <id>`,
        ].join("\n"),
      );
    });
}
