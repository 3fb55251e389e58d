import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { CliError, type CommandGroup, usageError } from "@skittlesorter/cli-shell";
import {
  certificateFacts,
  createCsr,
  generateKeyPair,
  isKeyType,
  KEY_TYPES,
  type KeyType,
  writeFileAtomic,
  writePrivateKeyFile,
} from "@skittlesorter/csr";
import { type HubClient, isHubError } from "@skittlesorter/hub-mqtt";
import { stderrLogger } from "../../logger.ts";
import {
  connectDevice,
  deviceFrom,
  deviceOptions,
  type HubDevice,
  type HubDeviceOptions,
  timeoutMsOf,
} from "./device.ts";

interface SendOptions extends HubDeviceOptions {
  property?: string[] | undefined;
  contentType?: string | undefined;
  messageId?: string | undefined;
}

interface TwinOptions extends HubDeviceOptions {
  report?: string[] | undefined;
}

interface RenewOptions extends HubDeviceOptions {
  csrKeyType?: string | undefined;
  outDir?: string | undefined;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Registers `skittle hub send`, `skittle hub twin` and `skittle hub renew`. */
export const hubCommands: CommandGroup = (program, context) => {
  const hub = program
    .command("hub")
    .description(
      "Talk to IoT Hub as a device, over MQTT with its X.509 certificate (@skittlesorter/hub-mqtt): bring-up checks " +
        "(send, twin) and certificate renewal through the hub (Azure certificate management, preview). The " +
        "device's credentials come from a skittle-sorter data directory (--data-dir) or from --cert/--key files.",
    );

  const send = hub
    .command("send")
    .description("Send one telemetry message (QoS 1); exit 0 once the hub acknowledged it.")
    .argument("<body>", "the message body (UTF-8 text, e.g. JSON)")
    .option("--property <key=value>", "an application property (repeatable)", collect)
    .option("--content-type <type>", "e.g. application/json (then the content encoding is utf-8)")
    .option("--message-id <id>", "the message id ($.mid)");
  deviceOptions(send.option.bind(send));
  send.action(async (body: string, options: SendOptions) => {
    const ctx = context(send);
    const properties = Object.fromEntries(
      (options.property ?? []).map((entry) => keyValue("--property", entry)),
    );
    const device = await deviceFrom(options, ctx.io);
    await withDevice(device, options, ctx.io, async (client, signal) => {
      await client.sendTelemetry(body, {
        properties,
        messageId: options.messageId,
        contentType: options.contentType,
        contentEncoding: options.contentType === undefined ? undefined : "utf-8",
        signal,
      });
    });
    ctx.print(
      {
        deviceId: device.deviceId,
        hub: device.hostName,
        sent: true,
        bytes: Buffer.byteLength(body),
        properties,
      },
      `sent ${Buffer.byteLength(body)} bytes as "${device.deviceId}" to ${device.hostName}`,
    );
  });

  const twin = hub
    .command("twin")
    .description(
      "Print the device twin (desired and reported properties); with --report, merge reported properties first.",
    )
    .option(
      "--report <key=value>",
      "a reported property (repeatable); a.b=1 nests, the value is JSON when it parses (1, true, null) else text",
      collect,
    );
  deviceOptions(twin.option.bind(twin));
  twin.action(async (options: TwinOptions) => {
    const ctx = context(twin);
    const patch = reportedPatch(options.report ?? []);
    const device = await deviceFrom(options, ctx.io);
    const result = await withDevice(device, options, ctx.io, async (client, signal) => {
      const reportedVersion =
        Object.keys(patch).length === 0
          ? undefined
          : (await client.updateReportedProperties(patch, { signal })).version;
      return { reportedVersion, twin: await client.getTwin({ signal }) };
    });
    ctx.print(
      { deviceId: device.deviceId, hub: device.hostName, ...result },
      [
        ...(result.reportedVersion === undefined
          ? []
          : [`reported ${Object.keys(patch).join(", ")} (reported $version ${result.reportedVersion})`]),
        `desired:  ${JSON.stringify(result.twin.desired)}`,
        `reported: ${JSON.stringify(result.twin.reported)}`,
      ].join("\n"),
    );
  });

  const renew = hub
    .command("renew")
    .description(
      "Renew the device certificate through the hub: a new key and CSR (CN = device id), the hub's 202 then 200 " +
        "with the chain, checked. Writes {device id}.key.pem (0600) and {device id}.chain.pem to --out-dir; a " +
        "sorter's data directory is not changed (the running sorter renews by itself). A hub without " +
        "certificate management fails with HUB_RENEWAL_UNSUPPORTED: get a new certificate from DPS then " +
        "(skittle provision --csr).",
    )
    .option("--csr-key-type <type>", `key type of the new key (${KEY_TYPES.join(", ")})`, "ec-p384")
    .option("--out-dir <dir>", "where to write the new key and chain", ".");
  deviceOptions(renew.option.bind(renew));
  renew.action(async (options: RenewOptions) => {
    const ctx = context(renew);
    const keyType = checkedKeyType(options.csrKeyType ?? "ec-p384");
    const device = await deviceFrom(options, ctx.io);
    const keyPair = await generateKeyPair(keyType);
    const csr = await createCsr(device.deviceId, keyPair);
    const result = await withDevice(
      device,
      options,
      ctx.io,
      async (client, signal) => {
        try {
          return await client.renewCertificate({
            csr: { wire: csr.wire, publicKey: keyPair.publicKey },
            signal,
          });
        } catch (error) {
          if (isHubError(error) && error.code === "HUB_RENEWAL_UNSUPPORTED") {
            throw new CliError(
              "HUB_RENEWAL_UNSUPPORTED",
              `${device.hostName} does not renew certificates through the hub (${error.message}) Get a new certificate from DPS instead: skittle provision --csr …`,
              { cause: error },
            );
          }
          throw error;
        }
      },
      true,
    );
    const outDir = resolve(ctx.io.cwd, options.outDir ?? ".");
    await mkdir(outDir, { recursive: true });
    const files = {
      privateKey: resolve(outDir, `${device.deviceId}.key.pem`),
      chain: resolve(outDir, `${device.deviceId}.chain.pem`),
    };
    await writePrivateKeyFile(files.privateKey, keyPair.privateKey, { overwrite: true });
    await writeFileAtomic(files.chain, result.chain.bundle, { mode: 0o644 });
    const leaf = certificateFacts(result.chain.pems[0] ?? "");
    const certificate = {
      subject: leaf.subject,
      issuer: leaf.issuer,
      serialNumber: leaf.serialNumber,
      sha256Thumbprint: leaf.sha256Thumbprint,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
    };
    ctx.print(
      {
        deviceId: device.deviceId,
        hub: device.hostName,
        requestId: result.requestId,
        correlationId: result.correlationId,
        keyType,
        certificate,
        files,
      },
      [
        `renewed through ${device.hostName} (request ${result.requestId})`,
        `certificate: ${certificate.subject}, issued by ${certificate.issuer}, valid until ${certificate.notAfter}`,
        `private key: ${files.privateKey} (${keyType}, new)`,
        `chain:       ${files.chain} (${result.chain.pems.length} certificates, leaf first)`,
      ].join("\n"),
    );
  });
};

/** Connects, runs `work` within --timeout-seconds, and always disconnects. */
async function withDevice<T>(
  device: HubDevice,
  options: HubDeviceOptions,
  io: Parameters<typeof deviceFrom>[1],
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

function checkedKeyType(value: string): KeyType {
  if (!isKeyType(value)) {
    throw usageError(`--csr-key-type must be one of ${KEY_TYPES.join(", ")}, got "${value}"`);
  }
  return value;
}

function keyValue(flag: string, entry: string): [string, string] {
  const at = entry.indexOf("=");
  if (at <= 0) throw usageError(`${flag} takes key=value, got "${entry}"`);
  return [entry.slice(0, at), entry.slice(at + 1)];
}

/** `a.b=1` → `{ a: { b: 1 } }`; values are JSON when they parse, else text. */
export function reportedPatch(entries: readonly string[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const entry of entries) {
    const [path, text] = keyValue("--report", entry);
    const keys = path.split(".");
    if (keys.some((key) => key === "" || key.startsWith("$"))) {
      throw usageError(`--report ${path}: property names may not be empty or start with "$"`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    let node = patch;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      node[key] = next !== null && typeof next === "object" ? next : {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys.at(-1) as string] = value;
  }
  return patch;
}
