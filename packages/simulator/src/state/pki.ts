import { type KeyObject, X509Certificate } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import type { Clock } from "@skittlesorter/core";
import {
  certificateFacts,
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  readPrivateKeyFile,
  writeFileAtomic,
  writePrivateKeyFile,
} from "@skittlesorter/csr";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Renew the TLS server certificate when it has less than this left. */
const SERVER_RENEW_BEFORE_MS = 30 * DAY_MS;

export interface TlsMaterial {
  /** Absolute path of the TLS root PEM (sim.json `trustedCaFile`). */
  rootFile: string;
  rootPem: string;
  /** Server certificate followed by the root, PEM. */
  certificateChainPem: string;
  keyPem: string;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * The simulator's own TLS PKI under `DIR/pki/tls`: a root (EC P-256, 10 years, created once) and a server
 * certificate for `localhost`, `127.0.0.1`, `::1` and any extra names, re-issued when a name is missing or
 * it nears expiry. Private keys are written 0600.
 */
export async function ensureTlsMaterial(
  pkiDir: string,
  options: { extraNames?: readonly string[]; clock: Clock },
): Promise<TlsMaterial> {
  const dir = join(pkiDir, "tls");
  const rootFile = join(dir, "root.pem");
  const rootKeyFile = join(dir, "root.key");
  const serverFile = join(dir, "server.pem");
  const serverKeyFile = join(dir, "server.key");
  await mkdir(dir, { recursive: true, mode: 0o700 });

  let rootPem = await readIfExists(rootFile);
  let rootKey: KeyObject;
  if (rootPem === undefined) {
    const root = await createCertificateAuthority({
      commonName: "skittle-sim TLS root",
      keyType: "ec-p256",
      validityDays: 3650,
      pathLength: 0,
      clock: options.clock,
    });
    await writePrivateKeyFile(rootKeyFile, root.privateKey, { overwrite: true });
    await writeFileAtomic(rootFile, root.certificatePem, { mode: 0o644 });
    rootPem = root.certificatePem;
    rootKey = root.privateKey;
  } else {
    rootKey = await readPrivateKeyFile(rootKeyFile);
  }

  const names = new Set(["localhost", "127.0.0.1", "::1", ...(options.extraNames ?? [])]);
  names.delete("0.0.0.0");
  names.delete("::");
  const dnsNames = [...names].filter((name) => isIP(name) === 0);
  const ipAddresses = [...names].filter((name) => isIP(name) !== 0);

  let serverPem = await readIfExists(serverFile);
  let keyPem = await readIfExists(serverKeyFile);
  if (serverPem !== undefined && keyPem !== undefined) {
    const facts = certificateFacts(serverPem);
    const issuer = certificateFacts(rootPem);
    const certificate = new X509Certificate(serverPem);
    const covers =
      dnsNames.every((name) => certificate.checkHost(name, { wildcards: false }) !== undefined) &&
      ipAddresses.every((ip) => certificate.checkIP(ip) !== undefined);
    const fresh = facts.notAfter.getTime() - options.clock.now() > SERVER_RENEW_BEFORE_MS;
    if (!covers || !fresh || facts.issuer !== issuer.subject) serverPem = undefined;
  }
  if (serverPem === undefined || keyPem === undefined) {
    const keyPair = await generateKeyPair("ec-p256");
    serverPem = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: "localhost",
      issuer: { certificatePem: rootPem, privateKey: rootKey },
      validityDays: 397,
      dnsNames,
      ipAddresses,
      extendedKeyUsage: ["serverAuth"],
      clock: options.clock,
    });
    await writePrivateKeyFile(serverKeyFile, keyPair.privateKey, { overwrite: true });
    await writeFileAtomic(serverFile, serverPem, { mode: 0o644 });
    keyPem = await readFile(serverKeyFile, "utf8");
  }
  return { rootFile, rootPem, certificateChainPem: `${serverPem.trimEnd()}\n${rootPem}`, keyPem };
}

/** A CA that can sign: its certificate and key. */
export interface LoadedCa {
  certificatePem: string;
  privateKey: KeyObject;
}

/** Creates the ADR namespace credential: a root CA, EC P-384, 10 years; key 0600 in `dir`. */
export async function createCredentialRoot(
  dir: string,
  namespace: string,
  clock: Clock,
): Promise<{ certificatePem: string; keyFile: string }> {
  const root = await createCertificateAuthority({
    commonName: `${namespace} credential root CA`,
    keyType: "ec-p384",
    validityDays: 3650,
    pathLength: 1,
    clock,
  });
  const keyFile = join(dir, "credential-root.key");
  await writePrivateKeyFile(keyFile, root.privateKey, { overwrite: true });
  await writeFileAtomic(join(dir, "credential-root.pem"), root.certificatePem, { mode: 0o644 });
  return { certificatePem: root.certificatePem, keyFile };
}

/** Creates a policy's issuing CA (EC P-384, 2 years, pathLength 0) signed by the credential root. */
export async function createIssuingCa(
  dir: string,
  namespace: string,
  policy: string,
  root: LoadedCa,
  clock: Clock,
): Promise<{ certificatePem: string; keyFile: string }> {
  const ca = await createCertificateAuthority({
    commonName: `${namespace} ${policy} issuing CA`,
    keyType: "ec-p384",
    validityDays: 730,
    pathLength: 0,
    issuer: root,
    clock,
  });
  const keyFile = join(dir, `policy-${policy}.key`);
  await writePrivateKeyFile(keyFile, ca.privateKey, { overwrite: true });
  await writeFileAtomic(join(dir, `policy-${policy}.pem`), ca.certificatePem, { mode: 0o644 });
  return { certificatePem: ca.certificatePem, keyFile };
}

/** Loads CA keys from their files once and keeps them in memory. */
export class KeyCache {
  readonly #keys = new Map<string, Promise<KeyObject>>();

  get(keyFile: string): Promise<KeyObject> {
    let key = this.#keys.get(keyFile);
    if (key === undefined) {
      key = readPrivateKeyFile(keyFile);
      key.catch(() => this.#keys.delete(keyFile));
      this.#keys.set(keyFile, key);
    }
    return key;
  }
}
