import { basename, dirname, join } from "node:path";
import type { CommandContext } from "@skittlesorter/cli-shell";
import { CliError, usageError } from "@skittlesorter/cli-shell";
import { certificateFacts, type KeyType, MAX_COMMON_NAME_LENGTH } from "@skittlesorter/csr";
import type { Command } from "commander";
import { keyTypeOption, PKI_DEFAULT_DAYS, parseDays, resolvePath } from "./args.ts";
import { type PkiCertificateSummary, summary } from "./certificate-summary.ts";
import { ensureDirectory, readCertificateFile, readKeyFile, writeCertificate } from "./pem-files.ts";
import { verificationCertificate } from "./proof.ts";

/** What `skittle pki verification-cert --json` prints. */
export interface PkiVerificationCertResult {
  verificationCode: string;
  file: string;
  /** The CA whose possession it proves. */
  ca: { subject: string; sha1Thumbprint: string; file: string };
  certificate: PkiCertificateSummary;
}

interface VerificationOptions {
  caCert: string;
  caKey: string;
  code: string;
  out?: string | undefined;
  days: string;
  keyType: KeyType;
  json?: boolean | undefined;
}

/** Registers `skittle pki verification-cert`. */
export function addVerificationCertCommand(
  pki: Command,
  context: (command: Command) => CommandContext,
): void {
  const verification = pki
    .command("verification-cert")
    .description(
      "Make the proof-of-possession certificate DPS asks for when you verify an uploaded CA: CN = the " +
        "verification code DPS generated, signed by that CA's key. Upload it with `az iot dps certificate verify`. " +
        "Its throwaway key is not kept.",
    )
    .requiredOption("--ca-cert <file>", "the CA certificate being verified (PEM; e.g. {name}-root.cert.pem)")
    .requiredOption("--ca-key <file>", "that CA's private key (PEM)")
    .requiredOption(
      "--code <code>",
      "the verification code from `az iot dps certificate generate-verification-code`",
    )
    .option(
      "--out <file>",
      "where to write the certificate (default: next to --ca-cert, {ca}-verification.cert.pem)",
    )
    .option("--days <n>", "certificate lifetime in days", String(PKI_DEFAULT_DAYS.verification))
    .addOption(keyTypeOption("the throwaway subject key"))
    .option("--json", "print JSON")
    .action(async (options: VerificationOptions) => {
      const ctx = context(verification);
      const code = checkedVerificationCode(options.code);
      const days = parseDays("--days", options.days);
      const caCertPath = resolvePath(ctx, "--ca-cert", options.caCert);
      const caKeyPath = resolvePath(ctx, "--ca-key", options.caKey);
      const out =
        options.out === undefined
          ? join(dirname(caCertPath), `${stem(caCertPath)}-verification.cert.pem`)
          : resolvePath(ctx, "--out", options.out);
      const caPem = await readCertificateFile(caCertPath, "--ca-cert");
      const caFacts = certificateFacts(caPem);
      if (!caFacts.isCa) {
        throw new CliError(
          "NOT_A_CA",
          `${caCertPath} ("${caFacts.subject}") is not a CA certificate: pass the root or intermediate CA you uploaded to DPS.`,
        );
      }
      const caKey = await readKeyFile(caKeyPath, "--ca-key");
      const pem = await verificationCertificate({ certificatePem: caPem, privateKey: caKey }, code, {
        keyType: options.keyType,
        validityDays: days,
        caLabel: caCertPath,
      });
      await ensureDirectory(dirname(out), "--out");
      await writeCertificate(out, pem);
      const result: PkiVerificationCertResult = {
        verificationCode: code,
        file: out,
        ca: { subject: caFacts.subject, sha1Thumbprint: caFacts.sha1Thumbprint, file: caCertPath },
        certificate: summary(certificateFacts(pem)),
      };
      ctx.print(
        result,
        [
          `Verification certificate: ${out}`,
          `  CN=${code}, issued by ${caFacts.subject}, until ${result.certificate.notAfter}`,
          "",
          `Upload it: az iot dps certificate verify --dps-name <dps> --resource-group <rg> --certificate-name <name> --path ${out} --etag <etag>`,
        ].join("\n"),
      );
    });
}

/** `x/sorter-root.cert.pem` → `sorter-root`. */
function stem(path: string): string {
  return basename(path).replace(/(\.cert)?\.(pem|crt|cer)$/i, "");
}

function checkedVerificationCode(value: string): string {
  if (!/^[\x21-\x7e]+$/.test(value) || value.length > MAX_COMMON_NAME_LENGTH) {
    throw usageError(
      `--code must be the verification code exactly as DPS returned it (printable, no spaces, at most ${MAX_COMMON_NAME_LENGTH} characters), got "${value}"`,
    );
  }
  return value;
}
