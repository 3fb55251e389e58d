import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import type { Clock } from "@skittlesorter/core";
import {
  certificateFacts,
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  privateKeyToPem,
} from "@skittlesorter/csr";
import type { KeyVault } from "./vault.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Renew the TLS server certificate when it has less than this left. */
const SERVER_RENEW_BEFORE_MS = 30 * DAY_MS;

const TLS_ROOT = "tls/root.pem";
const TLS_ROOT_KEY = "tls/root.key";
const TLS_SERVER = "tls/server.pem";
const TLS_SERVER_KEY = "tls/server.key";

export interface TlsMaterial {
  /** Absolute path of the TLS root PEM (sim.json `trustedCaFile`); undefined in memory. */
  rootFile: string | undefined;
  rootPem: string;
  /** Server certificate followed by the root, PEM. */
  certificateChainPem: string;
  keyPem: string;
}

/** A CA to issue the TLS server certificate from: certificate and private key, PEM. */
export interface TlsRoot {
  certificatePem: string;
  privateKeyPem: string;
}

/** Where a given root's certificate is kept, so sim.json `trustedCaFile` names it. */
const TLS_GIVEN_ROOT = "tls/given-root.pem";

/** The TLS names of the server certificate: `localhost`, `127.0.0.1`, `::1` and `extraNames`. */
function serverNames(extraNames: readonly string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const names = new Set(["localhost", "127.0.0.1", "::1", ...extraNames]);
  names.delete("0.0.0.0");
  names.delete("::");
  return {
    dnsNames: [...names].filter((name) => isIP(name) === 0),
    ipAddresses: [...names].filter((name) => isIP(name) !== 0),
  };
}

async function ensureTlsRoot(vault: KeyVault, clock: Clock): Promise<{ pem: string; key: KeyObject }> {
  const pem = await vault.readText(TLS_ROOT);
  const keyPath = vault.pathOf(TLS_ROOT_KEY);
  if (pem !== undefined && keyPath !== undefined) return { pem, key: await vault.key(keyPath) };
  const root = await createCertificateAuthority({
    commonName: "skittle-sim TLS root",
    keyType: "ec-p256",
    validityDays: 3650,
    pathLength: 0,
    clock,
  });
  await vault.writeKey(TLS_ROOT_KEY, root.privateKey);
  await vault.writeCertificate(TLS_ROOT, root.certificatePem);
  return { pem: root.certificatePem, key: root.privateKey };
}

/**
 * The simulator's own TLS PKI (`pki/tls` on disk): a root (EC P-256, 10 years, created once) and a server
 * certificate for `localhost`, `127.0.0.1`, `::1` and any extra names, re-issued when a name is missing or
 * it nears expiry. Private keys are written 0600.
 */
export async function ensureTlsMaterial(
  vault: KeyVault,
  options: { extraNames?: readonly string[] | undefined; clock: Clock; root?: TlsRoot | undefined },
): Promise<TlsMaterial> {
  const given = options.root;
  const root =
    given === undefined
      ? await ensureTlsRoot(vault, options.clock)
      : { pem: given.certificatePem, key: createPrivateKey(given.privateKeyPem) };
  if (given !== undefined) await vault.writeCertificate(TLS_GIVEN_ROOT, given.certificatePem);
  const { dnsNames, ipAddresses } = serverNames(options.extraNames ?? []);
  let serverPem = await vault.readText(TLS_SERVER);
  let keyPem = await vault.readText(TLS_SERVER_KEY);
  if (serverPem !== undefined && keyPem !== undefined) {
    const facts = certificateFacts(serverPem);
    const certificate = new X509Certificate(serverPem);
    const covers =
      dnsNames.every((name) => certificate.checkHost(name, { wildcards: false }) !== undefined) &&
      ipAddresses.every((ip) => certificate.checkIP(ip) !== undefined);
    const fresh = facts.notAfter.getTime() - options.clock.now() > SERVER_RENEW_BEFORE_MS;
    if (!covers || !fresh || facts.issuer !== certificateFacts(root.pem).subject) serverPem = undefined;
  }
  if (serverPem === undefined || keyPem === undefined) {
    const keyPair = await generateKeyPair("ec-p256");
    serverPem = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: "localhost",
      issuer: { certificatePem: root.pem, privateKey: root.key },
      validityDays: 397,
      dnsNames,
      ipAddresses,
      extendedKeyUsage: ["serverAuth"],
      clock: options.clock,
    });
    await vault.writeKey(TLS_SERVER_KEY, keyPair.privateKey);
    await vault.writeCertificate(TLS_SERVER, serverPem);
    keyPem = privateKeyToPem(keyPair.privateKey);
  }
  return {
    rootFile: vault.pathOf(given === undefined ? TLS_ROOT : TLS_GIVEN_ROOT),
    rootPem: root.pem,
    certificateChainPem: `${serverPem.trimEnd()}\n${root.pem}`,
    keyPem,
  };
}

/** A CA that can sign: its certificate and key. */
export interface LoadedCa {
  certificatePem: string;
  privateKey: KeyObject;
}

/** Where a namespace's CA files live in the vault. */
export function adrCaName(namespace: string, file: string): string {
  return `adr/${namespace}/${file}`;
}

/** Creates the ADR namespace credential: a root CA, EC P-384, 10 years. */
export async function createCredentialRoot(
  vault: KeyVault,
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
  const keyFile = await vault.writeKey(adrCaName(namespace, "credential-root.key"), root.privateKey);
  await vault.writeCertificate(adrCaName(namespace, "credential-root.pem"), root.certificatePem);
  return { certificatePem: root.certificatePem, keyFile };
}

/** Creates a policy's issuing CA (EC P-384, 2 years, pathLength 0) signed by the credential root. */
export async function createIssuingCa(
  vault: KeyVault,
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
  const keyFile = await vault.writeKey(adrCaName(namespace, `policy-${policy}.key`), ca.privateKey);
  await vault.writeCertificate(adrCaName(namespace, `policy-${policy}.pem`), ca.certificatePem);
  return { certificatePem: ca.certificatePem, keyFile };
}
