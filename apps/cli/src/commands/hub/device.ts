// Which device `skittle hub …` speaks for, and its connection: the X.509 credentials of a sorter's data directory
// or of --cert/--key files, the hub from the sorter's metadata or --hub, through @skittlesorter/hub-mqtt.
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CliError, type CliIo, usageError } from "@skittlesorter/cli-shell";
import type { Logger } from "@skittlesorter/core";
import { certificateFacts, splitPemBundle } from "@skittlesorter/csr";
import { HUB_API_VERSION, HUB_RENEWAL_API_VERSION, HubClient } from "@skittlesorter/hub-mqtt";
import { stderrLogger } from "../../logger.ts";

/** The options every `skittle hub` command takes. */
export interface HubDeviceOptions {
  dataDir?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  hub?: string | undefined;
  deviceId?: string | undefined;
  ca?: string | undefined;
  timeoutSeconds?: string | undefined;
  verbose?: boolean | undefined;
  json?: boolean | undefined;
}

export interface HubDevice {
  deviceId: string;
  /** As DPS assigned it: `{name}.azure-devices.net`, or `host:port` for a local hub. */
  hostName: string;
  certificatePem: string;
  privateKeyPem: string;
  ca: string | undefined;
}

/** The sorter's credential metadata (`certs/<id>.chain.json` next to `<id>.chain.pem` and `<id>.key.pem`). */
interface SorterMetadata {
  format: "skittlesorter-device-credentials";
  deviceId: string;
  assignedHub: string;
}

type Option = (flags: string, description: string, defaultValue?: string) => unknown;

/** Declares the device options on a `skittle hub` command. */
export function deviceOptions(option: Option): void {
  option(
    "--data-dir <dir>",
    "a skittle-sorter data directory: the device's key, certificate chain, device id and hub from its certs/",
  );
  option("--cert <file>", "the device certificate (PEM, leaf first; the chain DPS issued)");
  option("--key <file>", "the private key of --cert (PEM)");
  option(
    "--hub <host>",
    "the hub as DPS assigned it: NAME.azure-devices.net, or host:port for a local hub (default: from --data-dir)",
  );
  option("--device-id <id>", "the device id (default: from --data-dir, else the certificate's CN)");
  option("--ca <file>", "root CA (PEM) that signed the hub's TLS certificate; default: system roots");
  option("--timeout-seconds <n>", "give up after this long", "60");
  option("--verbose", "log connection steps (never keys) to stderr");
  option("--json", "print the result as JSON");
}

/** Reads the device's credentials from --data-dir or --cert/--key. Throws usage errors that say what to pass. */
export async function deviceFrom(options: HubDeviceOptions, io: CliIo): Promise<HubDevice> {
  const at = (path: string): string => resolve(io.cwd, path);
  if (options.dataDir !== undefined && (options.cert !== undefined || options.key !== undefined)) {
    throw usageError("pass either --data-dir or --cert and --key, not both");
  }
  let files: { cert: string; key: string; metadata?: SorterMetadata | undefined };
  if (options.dataDir !== undefined) {
    files = await sorterFiles(at(options.dataDir), options.deviceId);
  } else if (options.cert !== undefined && options.key !== undefined) {
    files = { cert: at(options.cert), key: at(options.key) };
  } else {
    throw usageError(
      "say which device: --data-dir DIR (a skittle-sorter data directory), or --cert FILE --key FILE --hub HOST",
    );
  }
  const certificatePem = await readFile(files.cert, "utf8");
  const privateKeyPem = await readFile(files.key, "utf8");
  const [leafPem] = splitPemBundle(certificatePem);
  if (leafPem === undefined) throw usageError(`${files.cert} holds no PEM certificate`);
  const deviceId = options.deviceId ?? files.metadata?.deviceId ?? certificateFacts(leafPem).commonName;
  if (deviceId === undefined) {
    throw usageError("the certificate has no CN: pass --device-id <id>");
  }
  const hostName = options.hub ?? files.metadata?.assignedHub;
  if (hostName === undefined) {
    throw usageError(
      "pass --hub <host>: the hub DPS assigned the device to (NAME.azure-devices.net, or host:port)",
    );
  }
  const ca = options.ca === undefined ? undefined : await readFile(at(options.ca), "utf8");
  return { deviceId, hostName, certificatePem, privateKeyPem, ca };
}

async function sorterFiles(
  dataDir: string,
  deviceId: string | undefined,
): Promise<{ cert: string; key: string; metadata: SorterMetadata }> {
  const found: { dir: string; base: string; metadata: SorterMetadata }[] = [];
  for (const dir of [join(dataDir, "certs"), dataDir]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((entry) => entry.endsWith(".chain.json"))) {
      const metadata = JSON.parse(await readFile(join(dir, name), "utf8")) as Partial<SorterMetadata>;
      if (metadata.format === "skittlesorter-device-credentials") {
        found.push({ dir, base: name.slice(0, -".chain.json".length), metadata: metadata as SorterMetadata });
      }
    }
  }
  const matching = found.filter((entry) => deviceId === undefined || entry.metadata.deviceId === deviceId);
  const [only] = matching;
  if (only === undefined || matching.length > 1) {
    throw usageError(
      only === undefined
        ? `${dataDir} holds no sorter credentials${deviceId === undefined ? "" : ` for "${deviceId}"`} (certs/<id>.chain.json): run the sorter once, or pass --cert and --key`
        : `${dataDir} holds credentials of ${matching.map((entry) => entry.metadata.deviceId).join(", ")}: pick one with --device-id`,
    );
  }
  return {
    cert: join(only.dir, `${only.base}.chain.pem`),
    key: join(only.dir, `${only.base}.key.pem`),
    metadata: only.metadata,
  };
}

/** Seconds from --timeout-seconds, checked. */
export function timeoutMsOf(options: HubDeviceOptions): number {
  const text = options.timeoutSeconds ?? "60";
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || seconds <= 0 || seconds > 86_400) {
    throw usageError(`--timeout-seconds must be a positive number of seconds, got "${text}"`);
  }
  return seconds * 1000;
}

/**
 * Connects, or fails with the first refusal (hub-mqtt itself would retry for ever): the CLI answers once. The
 * client does not reconnect after the command's work is done; the caller closes it.
 */
export async function connectDevice(
  device: HubDevice,
  options: { logger: Logger; signal: AbortSignal; renewal: boolean },
): Promise<HubClient> {
  const match = /^(.+):(\d{1,5})$/.exec(device.hostName);
  const client = new HubClient({
    hostName: device.hostName,
    ...(match === null ? {} : { connectHost: match[1], port: Number(match[2]) }),
    deviceId: device.deviceId,
    credentials: { kind: "x509", certificatePem: device.certificatePem, privateKeyPem: device.privateKeyPem },
    ca: device.ca,
    // Bring-up needs only the generally available surface; renewal needs the preview api-version (and then
    // subscribes to $iothub/credentials, which a hub without certificate management refuses).
    apiVersion: options.renewal ? HUB_RENEWAL_API_VERSION : HUB_API_VERSION,
    logger: options.logger,
  });
  let stopWatching: (() => void) | undefined;
  const firstFailure = new Promise<never>((_, reject) => {
    stopWatching = client.on("connectFailed", ({ error }) => reject(error));
  });
  try {
    await Promise.race([client.waitUntilConnected({ signal: options.signal }), firstFailure]);
    return client;
  } catch (error) {
    await client.close();
    if (options.signal.aborted && error === options.signal.reason) {
      throw new CliError(
        "HUB_TIMEOUT",
        `${device.hostName} did not accept the connection of "${device.deviceId}" in time; check --hub and the network.`,
      );
    }
    throw error;
  } finally {
    stopWatching?.();
    firstFailure.catch(() => undefined);
  }
}

/** Connects, runs `work` within --timeout-seconds, and always disconnects. */
export async function withDevice<T>(
  device: HubDevice,
  options: HubDeviceOptions,
  io: CliIo,
  work: (client: HubClient, signal: AbortSignal) => Promise<T>,
  renewal = false,
): Promise<T> {
  const timeoutMs = timeoutMsOf(options);
  const signal = AbortSignal.timeout(timeoutMs);
  const logger = stderrLogger(io, options.verbose === true);
  const client = await connectDevice(device, { logger, signal, renewal });
  try {
    return await work(client, signal);
  } catch (error) {
    if (signal.aborted && error === signal.reason) {
      throw new CliError(
        "HUB_TIMEOUT",
        `${device.hostName} did not answer within ${timeoutMs / 1000} s; raise --timeout-seconds or check the hub.`,
      );
    }
    throw error;
  } finally {
    await client.close();
  }
}
