import type { KeyObject } from "node:crypto";
import { access, mkdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { validateRegistrationId } from "@skittlesorter/attestation";
import type { CommandContext, CommandGroup } from "@skittlesorter/cli-shell";
import { CliError, usageError } from "@skittlesorter/cli-shell";
import {
  type CertificateFacts,
  certificateFacts,
  createCertificateAuthority,
  DEFAULT_KEY_TYPE,
  generateKeyPair,
  issueCertificate,
  KEY_TYPES,
  type KeyType,
  MAX_COMMON_NAME_LENGTH,
  readPrivateKeyFile,
  verifyChain,
  writeFileAtomic,
  writePrivateKeyFile,
} from "@skittlesorter/csr";
import { Option } from "commander";
import { readSimFile } from "../../sim-file.ts";
import {
  CA_NAME_PATTERN,
  type CaFiles,
  caFiles,
  caNamesIn,
  type DeviceFiles,
  deviceFiles,
} from "./layout.ts";
import { onboardCaDirectory } from "./onboard.ts";
import { verificationCertificate } from "./proof.ts";

/** The original setup scripts' lifetimes (days). */
export const PKI_DEFAULT_DAYS = { root: 3650, intermediate: 1825, device: 365, verification: 1 } as const;

/** A certificate as the `skittle pki` commands report it. */
export interface PkiCertificateSummary {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  isCa: boolean;
  pathLength: number | null;
  subjectAltDnsNames: string[];
  sha1Thumbprint: string;
  sha256Thumbprint: string;
}

/** What `skittle pki init --json` prints. */
export interface PkiInitResult {
  name: string;
  keyType: KeyType;
  caDir: string;
  files: CaFiles;
  root: PkiCertificateSummary;
  intermediate: PkiCertificateSummary;
}

/** What `skittle pki device --json` prints. */
export interface PkiDeviceResult {
  registrationId: string;
  caName: string;
  keyType: KeyType;
  files: DeviceFiles;
  certificate: PkiCertificateSummary;
}

/** What `skittle pki verification-cert --json` prints. */
export interface PkiVerificationCertResult {
  verificationCode: string;
  file: string;
  /** The CA whose possession it proves. */
  ca: { subject: string; sha1Thumbprint: string; file: string };
  certificate: PkiCertificateSummary;
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

interface VerificationOptions {
  caCert: string;
  caKey: string;
  code: string;
  out?: string | undefined;
  days: string;
  keyType: KeyType;
  json?: boolean | undefined;
}

interface OnboardOptions {
  sim: string;
  caDir: string;
  name?: string | undefined;
  groupId?: string | undefined;
  credentialPolicy: string;
  json?: boolean | undefined;
}

const keyTypeOption = (what: string): Option =>
  new Option("--key-type <type>", `key algorithm and size of ${what}`)
    .choices([...KEY_TYPES])
    .default(DEFAULT_KEY_TYPE);

/** Registers the `skittle pki` commands. */
export const pkiCommands: CommandGroup = (program, context) => {
  const pki = program
    .command("pki")
    .description(
      "A bootstrap X.509 hierarchy for DPS X.509 attestation, as the original setup scripts made it: " +
        "root CA (10 years, pathlen 1) → intermediate CA (5 years, pathlen 0) → device certificates. " +
        "CA directory layout: {name}-root.cert.pem, {name}-root.key.pem, {name}-intermediate.cert.pem, " +
        "{name}-intermediate.key.pem, {name}-chain.pem (intermediate + root); devices: {id}-device.cert.pem, " +
        "{id}-device.key.pem, {id}-device.full-chain.pem. Keys are written 0600 and never printed.",
    );

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

  const onboard = pki
    .command("onboard")
    .description(
      "Onboard a CA directory to a running skittle-sim: upload the root and intermediate CA certificates, " +
        "prove possession of both (verification code → certificate with CN = code signed by the CA → " +
        "verified), and create an X.509 enrollment group on the intermediate linked to a credential policy.",
    )
    .requiredOption("--sim <file>", "sim.json of a running skittle-sim (or its data directory)")
    .requiredOption("--ca-dir <dir>", "CA directory made by `skittle pki init`")
    .option("--name <name>", "CA name in --ca-dir (needed when it holds several)")
    .option("--group-id <id>", "enrollment group id (default: {name}-x509)")
    .option(
      "--credential-policy <name>",
      "ADR credential policy the group issues certificates with",
      "default",
    )
    .option("--json", "print JSON")
    .action(async (options: OnboardOptions) => {
      const ctx = context(onboard);
      const caDir = resolvePath(ctx, "--ca-dir", options.caDir);
      const caName = await chooseCaName(caDir, options.name);
      const sim = await readSimFile(resolvePath(ctx, "--sim", options.sim));
      const result = await onboardCaDirectory(sim, caFiles(caDir, caName), {
        caName,
        groupId: options.groupId ?? `${caName}-x509`,
        credentialPolicy: options.credentialPolicy,
      });
      ctx.print(
        result,
        [
          ...result.certificates.map(
            (cert) =>
              `${cert.name}: ${cert.uploaded ? "uploaded" : "already uploaded"}, ${cert.verified ? "verified" : "NOT verified"} (${cert.subject})`,
          ),
          `enrollment group ${result.enrollmentGroup.id}: X.509 on ${result.enrollmentGroup.caName}, credential policy ${result.enrollmentGroup.credentialPolicy}`,
        ].join("\n"),
      );
    });
};

function summary(facts: CertificateFacts): PkiCertificateSummary {
  return {
    subject: facts.subject,
    issuer: facts.issuer,
    serialNumber: facts.serialNumber,
    notBefore: facts.notBefore.toISOString(),
    notAfter: facts.notAfter.toISOString(),
    keyType: facts.keyType,
    isCa: facts.isCa,
    pathLength: facts.pathLength ?? null,
    subjectAltDnsNames: facts.subjectAltDnsNames,
    sha1Thumbprint: facts.sha1Thumbprint,
    sha256Thumbprint: facts.sha256Thumbprint,
  };
}

const bundle = (pems: readonly string[]): string => pems.map((pem) => `${pem.trim()}\n`).join("");

const writeCertificate = (path: string, pem: string): Promise<void> =>
  writeFileAtomic(path, pem.endsWith("\n") ? pem : `${pem}\n`, { mode: 0o644 });

/** `x/sorter-root.cert.pem` → `sorter-root`. */
function stem(path: string): string {
  return basename(path).replace(/(\.cert)?\.(pem|crt|cer)$/i, "");
}

function resolvePath(ctx: CommandContext, flag: string, value: string): string {
  if (value.trim() === "") throw usageError(`${flag} must not be empty`);
  return resolve(ctx.io.cwd, value);
}

function parseDays(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 36500) {
    throw usageError(`${flag} must be a whole number of days from 1 to 36500, got "${value}"`);
  }
  return Number(value);
}

function checkedCaName(value: string): string {
  if (!CA_NAME_PATTERN.test(value)) {
    throw usageError(
      `--name "${value}" is not usable: use 1-50 letters, digits, ".", "_" or "-", starting and ending with a letter or digit (it prefixes the CNs and file names)`,
    );
  }
  return value;
}

function checkedRegistrationId(value: string): string {
  try {
    return validateRegistrationId(value);
  } catch (error) {
    throw usageError(`--registration-id: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function checkedVerificationCode(value: string): string {
  if (!/^[\x21-\x7e]+$/.test(value) || value.length > MAX_COMMON_NAME_LENGTH) {
    throw usageError(
      `--code must be the verification code exactly as DPS returned it (printable, no spaces, at most ${MAX_COMMON_NAME_LENGTH} characters), got "${value}"`,
    );
  }
  return value;
}

async function chooseCaName(caDir: string, name: string | undefined): Promise<string> {
  if (name !== undefined) return checkedCaName(name);
  const names = await caNamesIn(caDir);
  if (names.length === 1) return names[0] as string;
  if (names.length === 0) {
    throw new CliError(
      "CA_NOT_FOUND",
      `${caDir} holds no CA ({name}-intermediate.cert.pem): create one with \`skittle pki init --name <name> --out-dir ${caDir}\`, or fix --ca-dir.`,
    );
  }
  throw usageError(`${caDir} holds several CAs (${names.join(", ")}): choose one with --name`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function refuseExisting(keyFiles: readonly string[]): Promise<void> {
  for (const file of keyFiles) {
    if (await exists(file)) {
      throw new CliError(
        "KEY_FILE_EXISTS",
        `${file} already exists: refusing to overwrite a private key. Pass --force to replace it, or choose another directory.`,
      );
    }
  }
}

async function ensureDirectory(path: string, flag: string): Promise<string> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    throw new CliError(
      "OUT_DIR_INVALID",
      `Cannot create the directory ${path} (${flag}): ${error instanceof Error ? error.message : String(error)}.`,
      { cause: error },
    );
  }
  if (!(await stat(path)).isDirectory()) {
    throw new CliError("OUT_DIR_INVALID", `${path} is not a directory: pass a directory as ${flag}.`);
  }
  return path;
}

async function readText(path: string, missing: () => CliError): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") throw missing();
    throw new CliError(
      "FILE_READ_FAILED",
      `Cannot read ${path}: ${error instanceof Error ? error.message : String(error)}.`,
      { cause: error },
    );
  }
}

async function readCertificateFile(path: string, flag: string): Promise<string> {
  const text = await readText(
    path,
    () => new CliError("FILE_NOT_FOUND", `${path} (${flag}) does not exist: check the path.`),
  );
  try {
    return certificateFacts(text).pem;
  } catch (error) {
    throw new CliError(
      "CERT_INVALID",
      `${path} (${flag}) holds no X.509 certificate: pass a PEM file with a "-----BEGIN CERTIFICATE-----" block.`,
      { cause: error },
    );
  }
}

function readCaCertificate(path: string, caDir: string, caName: string): Promise<string> {
  return readText(
    path,
    () =>
      new CliError(
        "CA_FILE_NOT_FOUND",
        `${path} is missing: the CA "${caName}" in ${caDir} is incomplete. Recreate it with \`skittle pki init --name ${caName} --out-dir ${caDir} --force\`.`,
      ),
  ).then((text) => certificateFacts(text).pem);
}

async function readCaKey(path: string, caDir: string, caName: string): Promise<KeyObject> {
  if (!(await exists(path))) {
    throw new CliError(
      "CA_FILE_NOT_FOUND",
      `${path} is missing: issuing needs the intermediate CA's key. Copy it into ${caDir}, or recreate the CA with \`skittle pki init --name ${caName} --out-dir ${caDir} --force\`.`,
    );
  }
  return readPrivateKeyFile(path);
}

async function readKeyFile(path: string, flag: string): Promise<KeyObject> {
  if (!(await exists(path))) {
    throw new CliError("FILE_NOT_FOUND", `${path} (${flag}) does not exist: check the path.`);
  }
  return readPrivateKeyFile(path);
}
