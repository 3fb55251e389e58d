import { chmod, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { OperationOptions } from "@skittlesorter/core";
import {
  assertKeyMatchesCertificate,
  certificateFacts,
  isKeyType,
  type KeyType,
  privateKeyToPem,
  readPrivateKeyFile,
  splitPemBundle,
  writeFileAtomic,
  writePrivateKeyFile,
} from "@skittlesorter/csr";
import { describeError } from "./errors.ts";
import { PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE } from "./private-files.ts";

/** The facts about the operational certificate that the app shows and reports. */
export interface CertificateSummary {
  subject: string;
  commonName: string | undefined;
  issuer: string;
  serialNumber: string;
  sha256Thumbprint: string;
  notBefore: Date;
  notAfter: Date;
}

/** The device's operational identity: what DPS assigned and the certificate it issued. */
export interface DeviceCredentials {
  registrationId: string;
  deviceId: string;
  assignedHub: string;
  keyType: KeyType;
  /** PKCS#8 PEM. Secret: never log it. */
  privateKeyPem: string;
  /** Leaf first, then the issuing CA(s) and root as DPS returned them. */
  chainPem: string;
  certificate: CertificateSummary;
  /** When this device obtained it (ms since the epoch). */
  obtainedAtMs: number;
}

export interface CredentialPaths {
  keyFile: string;
  chainFile: string;
  csrFile: string;
  metadataFile: string;
}

const METADATA_FORMAT = "skittlesorter-device-credentials";

interface Metadata {
  format: typeof METADATA_FORMAT;
  version: 1;
  registrationId: string;
  deviceId: string;
  assignedHub: string;
  keyType: KeyType;
  sha256Thumbprint: string;
  notBefore: string;
  notAfter: string;
  obtainedAt: string;
}

export type LoadResult =
  | { credentials: DeviceCredentials; problem?: undefined }
  | { credentials?: undefined; problem: string };

/**
 * The operational key (mode 0600), issued chain, CSR and a metadata file in the data directory. Files are
 * written atomically, key first; a set that does not fit together (a crash between writes) loads as a problem,
 * and the app provisions again.
 */
export class CredentialStore {
  readonly paths: Readonly<CredentialPaths>;

  constructor(paths: CredentialPaths) {
    const { keyFile, chainFile, csrFile, metadataFile } = paths;
    this.paths = Object.freeze({ keyFile, chainFile, csrFile, metadataFile });
  }

  async load(options: OperationOptions = {}): Promise<LoadResult> {
    const { signal } = options;
    let metadata: Metadata;
    try {
      metadata = JSON.parse(
        await readFile(this.paths.metadataFile, { encoding: "utf8", signal }),
      ) as Metadata;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if ((error as { code?: unknown }).code === "ENOENT") return { problem: "no stored certificate" };
      return {
        problem: `the credential metadata ${this.paths.metadataFile} is unreadable (${describeError(error)})`,
      };
    }
    if (metadata.format !== METADATA_FORMAT || metadata.version !== 1 || !isKeyType(metadata.keyType)) {
      return { problem: `the credential metadata ${this.paths.metadataFile} has an unknown format` };
    }
    try {
      const chainPem = await readFile(this.paths.chainFile, { encoding: "utf8", signal });
      const key = await readPrivateKeyFile(this.paths.keyFile, { signal });
      const [leafPem] = splitPemBundle(chainPem);
      if (leafPem === undefined) return { problem: `${this.paths.chainFile} holds no certificate` };
      assertKeyMatchesCertificate(key, leafPem);
      const facts = certificateFacts(leafPem);
      if (facts.sha256Thumbprint !== metadata.sha256Thumbprint) {
        return { problem: "the stored certificate does not match its metadata (an interrupted write?)" };
      }
      return {
        credentials: {
          registrationId: metadata.registrationId,
          deviceId: metadata.deviceId,
          assignedHub: metadata.assignedHub,
          keyType: metadata.keyType,
          privateKeyPem: privateKeyToPem(key),
          chainPem,
          certificate: summarizeCertificate(facts),
          obtainedAtMs: Date.parse(metadata.obtainedAt),
        },
      };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return { problem: `the stored key or certificate cannot be used (${describeError(error)})` };
    }
  }

  async save(credentials: DeviceCredentials, csrPem: string, options: OperationOptions = {}): Promise<void> {
    const { signal } = options;
    for (const dir of new Set(Object.values(this.paths).map((path) => dirname(path)))) {
      await mkdir(dir, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
    }
    await chmod(dirname(this.paths.keyFile), PRIVATE_DIRECTORY_MODE);
    await writePrivateKeyFile(this.paths.keyFile, credentials.privateKeyPem, { overwrite: true, signal });
    await writeFileAtomic(this.paths.csrFile, csrPem, { mode: PRIVATE_FILE_MODE, signal });
    await writeFileAtomic(this.paths.chainFile, credentials.chainPem, { mode: PRIVATE_FILE_MODE, signal });
    const metadata: Metadata = {
      format: METADATA_FORMAT,
      version: 1,
      registrationId: credentials.registrationId,
      deviceId: credentials.deviceId,
      assignedHub: credentials.assignedHub,
      keyType: credentials.keyType,
      sha256Thumbprint: credentials.certificate.sha256Thumbprint,
      notBefore: credentials.certificate.notBefore.toISOString(),
      notAfter: credentials.certificate.notAfter.toISOString(),
      obtainedAt: new Date(credentials.obtainedAtMs).toISOString(),
    };
    await writeFileAtomic(this.paths.metadataFile, `${JSON.stringify(metadata, null, 2)}\n`, {
      mode: PRIVATE_FILE_MODE,
      signal,
    });
  }
}

/** Exported for the credential manager, which summarizes each certificate it obtains the same way. */
export function summarizeCertificate(facts: ReturnType<typeof certificateFacts>): CertificateSummary {
  return {
    subject: facts.subject,
    commonName: facts.commonName,
    issuer: facts.issuer,
    serialNumber: facts.serialNumber,
    sha256Thumbprint: facts.sha256Thumbprint,
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
  };
}
