import { isAbsolute, resolve } from "node:path";
import { isKeyType, KEY_TYPES } from "@skittlesorter/csr";
import type { Resolution } from "./context.ts";
import { systemdStateDirectory } from "./env.ts";
import type { RawConfig } from "./schema.ts";
import type { CredentialSettings, DpsSettings, OutboxSettings, ResolveConfigOptions } from "./types.ts";

const DAY_MS = 24 * 3600 * 1000;

/**
 * Where certificates and the outbox live. Precedence: --data-dir, then DataDir, then the directory systemd made for
 * StateDirectory=, then ./data.
 */
export function resolveDataDir(raw: RawConfig, options: ResolveConfigOptions, context: Resolution): string {
  const { fromConfig } = context;
  const stateDirectory = systemdStateDirectory(options.env ?? {});
  const dataDir =
    options.dataDir !== undefined
      ? resolve(options.dataDir)
      : raw.DataDir !== undefined
        ? fromConfig(raw.DataDir)
        : (stateDirectory ?? fromConfig("data"));
  if (options.dataDir === undefined && raw.DataDir !== undefined && stateDirectory !== undefined) {
    if (dataDir !== stateDirectory) {
      context.warn(
        `DataDir (${dataDir}) is used instead of systemd's state directory (${stateDirectory}); the unit's ProtectSystem=strict leaves only the state directory writable. Remove DataDir to use it.`,
      );
    }
  }
  return dataDir;
}

/** The certificate settings and the credential files in the data directory. */
export function resolveCredentials(
  raw: RawConfig,
  dataDir: string,
  dps: DpsSettings | undefined,
  { problem, mustExist }: Resolution,
): CredentialSettings {
  const certs = raw.Certificates ?? {};
  const keyType = certs.KeyType ?? "ec-p384";
  if (!isKeyType(keyType)) {
    problem(
      "Certificates.KeyType",
      `"${keyType}" is not a supported key type.`,
      `use one of ${KEY_TYPES.join(", ")} (DPS documents ec-p384).`,
    );
  }
  const renewalWindowDays = certs.RenewalWindowDays ?? 7;
  if (!(renewalWindowDays > 0 && renewalWindowDays < 90)) {
    problem(
      "Certificates.RenewalWindowDays",
      "must be above 0 and below 90.",
      "use 7 (the ADR policy default).",
    );
  }
  const trustedCaFile = mustExist("Certificates.TrustedCaFile", certs.TrustedCaFile, "the trusted CA file");
  const d = raw.IoTHub?.DpsProvisioning ?? {};
  const inData = (value: string | undefined, fallback: string): string =>
    value === undefined ? resolve(dataDir, fallback) : isAbsolute(value) ? value : resolve(dataDir, value);
  const id = dps?.registrationId || "device";
  const chainFile = inData(d.IssuedCertFilePath, `certs/${id}.chain.pem`);
  return {
    keyType: isKeyType(keyType) ? keyType : "ec-p384",
    renewalWindowMs: renewalWindowDays * DAY_MS,
    trustedCaFile,
    keyFile: inData(d.CsrKeyFilePath, `certs/${id}.key.pem`),
    chainFile,
    csrFile: inData(d.CsrFilePath, `certs/${id}.csr.pem`),
    metadataFile: `${chainFile.replace(/\.pem$/, "")}.json`,
  };
}

export function resolveOutbox(raw: RawConfig, dataDir: string, { problem }: Resolution): OutboxSettings {
  const ob = raw.Outbox ?? {};
  const maxMessages = ob.MaxMessages ?? 10_000;
  if (maxMessages < 1)
    problem("Outbox.MaxMessages", "must be 1 or more.", "use e.g. 10000 (about 2 MB of telemetry).");
  return {
    file: resolve(dataDir, "outbox.sqlite"),
    maxMessages,
    whenFull: ob.WhenFull ?? "drop-oldest",
    flushTimeoutMs: ob.FlushTimeoutMs ?? 10_000,
  };
}
