import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { CommandGroup } from "@skittlesorter/cli-shell";
import { CliError } from "@skittlesorter/cli-shell";
import {
  type CertificateFacts,
  type ChainVerification,
  certificateFacts,
  splitPemBundle,
  verifyChain,
} from "@skittlesorter/csr";

interface CertInspectOptions {
  caFile?: string | undefined;
  json?: boolean | undefined;
}

/** One certificate as `skittle cert inspect --json` prints it. */
export interface InspectedCertificate {
  index: number;
  subject: string;
  commonName: string | null;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  /** Whole days until notAfter (rounded toward zero); negative once expired. */
  daysLeft: number;
  status: "valid" | "expired" | "not-yet-valid";
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  keyType: string;
  isCa: boolean;
  pathLength: number | null;
  subjectAltDnsNames: string[];
}

/** What `skittle cert inspect --json` prints. */
export interface CertInspectResult {
  file: string;
  certificates: InspectedCertificate[];
  chain: ChainVerification;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Registers the `skittle cert` commands. */
export const certCommands: CommandGroup = (program, context) => {
  const cert = program.command("cert").description("Inspect X.509 certificates and chains.");

  const inspect = cert
    .command("inspect")
    .description(
      "Show every certificate in a PEM file (subject, issuer, serial, validity, thumbprints, key type, " +
        "CA flag) and whether the chain (leaf first) verifies. Exits 0 when the file parsed, even if the " +
        "chain does not verify.",
    )
    .argument("<file>", "PEM file with one or more certificates (a DER certificate also works)")
    .option(
      "--ca-file <file>",
      "PEM file of trusted root(s) to anchor the chain in (default: the last certificate must be a self-signed root)",
    )
    .option("--json", "print JSON")
    .action(async (file: string, options: CertInspectOptions) => {
      const ctx = context(inspect);
      const path = resolve(ctx.io.cwd, file);
      const pems = await readCertificates(path);
      const trustedRoots =
        options.caFile === undefined
          ? undefined
          : await readCertificates(resolve(ctx.io.cwd, options.caFile));
      const now = Date.now();
      const certificates = pems.map((pem, index) => inspected(index, certificateFacts(pem), now));
      const chain = verifyChain(pems, { trustedRoots });
      const result: CertInspectResult = { file: path, certificates, chain };
      ctx.print(result, humanReport(result, trustedRoots !== undefined));
    });
};

async function readCertificates(path: string): Promise<string[]> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw code === "ENOENT"
      ? new CliError("FILE_NOT_FOUND", `${path} does not exist: check the path.`, { cause: error })
      : new CliError(
          "FILE_READ_FAILED",
          `Cannot read ${path}: ${error instanceof Error ? error.message : String(error)}.`,
          { cause: error },
        );
  }
  const text = content.toString("latin1");
  if (text.includes("-----BEGIN ")) {
    const pems = splitPemBundle(text);
    if (pems.length > 0) return pems;
  } else if (content.length > 0) {
    try {
      return [certificateFacts(content).pem];
    } catch {
      // fall through to the clear error below
    }
  }
  throw new CliError(
    "NO_CERTIFICATE",
    `${path} contains no certificate: pass a PEM file with "-----BEGIN CERTIFICATE-----" blocks (or a DER certificate).`,
  );
}

function inspected(index: number, facts: CertificateFacts, now: number): InspectedCertificate {
  const status =
    now > facts.notAfter.getTime() ? "expired" : now < facts.notBefore.getTime() ? "not-yet-valid" : "valid";
  return {
    index,
    subject: facts.subject,
    commonName: facts.commonName ?? null,
    issuer: facts.issuer,
    serialNumber: facts.serialNumber,
    notBefore: facts.notBefore.toISOString(),
    notAfter: facts.notAfter.toISOString(),
    daysLeft: Math.trunc((facts.notAfter.getTime() - now) / DAY_MS),
    status,
    sha1Thumbprint: facts.sha1Thumbprint,
    sha256Thumbprint: facts.sha256Thumbprint,
    keyType: facts.keyType,
    isCa: facts.isCa,
    pathLength: facts.pathLength ?? null,
    subjectAltDnsNames: facts.subjectAltDnsNames,
  };
}

function humanReport(result: CertInspectResult, withTrustedRoots: boolean): string {
  const lines: string[] = [];
  for (const cert of result.certificates) {
    const validity =
      cert.status === "expired"
        ? cert.daysLeft === 0
          ? "EXPIRED today"
          : `EXPIRED ${-cert.daysLeft} day(s) ago`
        : cert.status === "not-yet-valid"
          ? "NOT YET VALID"
          : `${cert.daysLeft} day(s) left`;
    lines.push(
      `Certificate #${cert.index}`,
      `  Subject:     ${cert.subject}`,
      `  Issuer:      ${cert.issuer}`,
      `  Serial:      ${cert.serialNumber}`,
      `  Not before:  ${cert.notBefore}`,
      `  Not after:   ${cert.notAfter} (${validity})`,
      `  SHA-1:       ${cert.sha1Thumbprint}`,
      `  SHA-256:     ${cert.sha256Thumbprint}`,
      `  Key type:    ${cert.keyType}`,
      `  CA:          ${cert.isCa ? `yes${cert.pathLength === null ? "" : ` (path length ${cert.pathLength})`}` : "no"}`,
    );
    if (cert.subjectAltDnsNames.length > 0)
      lines.push(`  DNS names:   ${cert.subjectAltDnsNames.join(", ")}`);
    lines.push("");
  }
  const count = result.certificates.length;
  if (result.chain.valid) {
    lines.push(
      `Chain: verifies (${count} certificate${count === 1 ? "" : "s"}, ${withTrustedRoots ? "anchored in the --ca-file root" : "ending in a self-signed root"}).`,
    );
  } else {
    lines.push("Chain: DOES NOT VERIFY", ...result.chain.problems.map((problem) => `  - ${problem}`));
  }
  return lines.join("\n");
}
