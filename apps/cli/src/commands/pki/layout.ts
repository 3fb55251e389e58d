import { readdir } from "node:fs/promises";
import { join } from "node:path";

/**
 * The files `skittle pki init` writes into its `--out-dir` (the "CA directory") for a CA named `name`.
 * Certificates are PEM (mode 0644); keys are PKCS#8 PEM (mode 0600).
 */
export interface CaFiles {
  /** `{name}-root.cert.pem`: the self-signed root, CN `{name}-root`. */
  rootCert: string;
  /** `{name}-root.key.pem` */
  rootKey: string;
  /** `{name}-intermediate.cert.pem`: signed by the root, CN `{name}-intermediate`; it signs the device certificates. */
  intermediateCert: string;
  /** `{name}-intermediate.key.pem` */
  intermediateKey: string;
  /** `{name}-chain.pem`: intermediate then root, the bundle a TLS client presents after its leaf. */
  chain: string;
}

/** The files `skittle pki device` writes for registration id `registrationId`. */
export interface DeviceFiles {
  /** `{id}-device.cert.pem`: CN and SAN DNS = the registration id, extendedKeyUsage clientAuth. */
  cert: string;
  /** `{id}-device.key.pem` */
  key: string;
  /** `{id}-device.full-chain.pem`: leaf, intermediate, root. */
  fullChain: string;
}

const INTERMEDIATE_SUFFIX = "-intermediate.cert.pem";

/** Paths of the CA files for `name` in `dir`. */
export function caFiles(dir: string, name: string): CaFiles {
  return {
    rootCert: join(dir, `${name}-root.cert.pem`),
    rootKey: join(dir, `${name}-root.key.pem`),
    intermediateCert: join(dir, `${name}${INTERMEDIATE_SUFFIX}`),
    intermediateKey: join(dir, `${name}-intermediate.key.pem`),
    chain: join(dir, `${name}-chain.pem`),
  };
}

/** Paths of the device files for `registrationId` in `dir`. */
export function deviceFiles(dir: string, registrationId: string): DeviceFiles {
  return {
    cert: join(dir, `${registrationId}-device.cert.pem`),
    key: join(dir, `${registrationId}-device.key.pem`),
    fullChain: join(dir, `${registrationId}-device.full-chain.pem`),
  };
}

/** The CA names present in `dir` (one per `{name}-intermediate.cert.pem`), sorted; empty when none or no such dir. */
export async function caNamesIn(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.endsWith(INTERMEDIATE_SUFFIX) && entry.length > INTERMEDIATE_SUFFIX.length)
    .map((entry) => entry.slice(0, -INTERMEDIATE_SUFFIX.length))
    .sort();
}

/** CA names become file names and CNs (`{name}-intermediate`, ≤ 64 characters): letters, digits, `.`, `_`, `-`. */
export const CA_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$/;
