import { mkdir, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { type Attestation, loadX509Attestation, symmetricKeyAttestation } from "@skittlesorter/attestation";
import type { CommandGroup } from "@skittlesorter/cli-shell";
import { type CliIo, usageError } from "@skittlesorter/cli-shell";
import {
  createCsr,
  generateKeyPair,
  isKeyType,
  KEY_TYPES,
  type KeyPair,
  type KeyType,
  writeFileAtomic,
  writePrivateKeyFile,
} from "@skittlesorter/csr";
import {
  DPS_GLOBAL_HOST,
  type ProvisionCsr,
  provision,
  type RegistrationResult,
} from "@skittlesorter/dps-mqtt";
import { stderrLogger } from "../../logger.ts";
import { readSimFile, simDps } from "../../sim-file.ts";

interface ProvisionCliOptions {
  sim?: string | undefined;
  host?: string | undefined;
  port?: string | undefined;
  websocket?: boolean | undefined;
  idScope?: string | undefined;
  registrationId?: string | undefined;
  groupKey?: string | undefined;
  deviceKey?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  chain?: string | undefined;
  csr?: boolean | undefined;
  csrKeyType?: string | undefined;
  ca?: string | undefined;
  payload?: string | undefined;
  outDir?: string | undefined;
  timeoutSeconds?: string | undefined;
  verbose?: boolean | undefined;
  json?: boolean | undefined;
}

/** Registers the `skittle provision` command. */
export const provisionCommands: CommandGroup = (program, context) => {
  const command = program
    .command("provision")
    .description(
      "Register a device with Azure DPS over MQTT. With --csr, generate a fresh key and have DPS issue its " +
        "operational certificate (api-version 2025-07-01-preview); the key (0600) and the issued chain are " +
        "written to --out-dir. Exit 0 when assigned, 1 otherwise.",
    )
    .option(
      "--sim <file>",
      "sim.json of a running skittle-sim (or its data directory): its DPS host, port, id scope, TLS root and default group key",
    )
    .option("--host <host>", `DPS host, e.g. ${DPS_GLOBAL_HOST}`)
    .option("--port <n>", "port (default 8883, or 443 with --websocket)")
    .option(
      "--websocket",
      "use MQTT over WebSocket (wss, path /$iothub/websocket) for networks that block 8883",
    )
    .option("--id-scope <scope>", "ID scope of the DPS instance, e.g. 0ne00000A0A")
    .option(
      "--registration-id <id>",
      "registration id (lowercased); required with a key, defaults to the certificate CN with --cert",
    )
    .option("--group-key <base64>", "enrollment-group key (the device key is derived from it)")
    .option("--device-key <base64>", "device key (individual enrollment, or already derived)")
    .option("--cert <file>", "X.509 onboarding certificate (PEM; a bundle may carry the chain)")
    .option("--key <file>", "private key of --cert (PEM)")
    .option("--chain <file>", "intermediate certificates sent after --cert (PEM)")
    .option("--csr", "generate a key and a CSR; DPS issues the operational certificate")
    .option("--csr-key-type <type>", `key type for the CSR (${KEY_TYPES.join(", ")}); implies --csr`)
    .option("--ca <file>", "root CA (PEM) that signed the DPS server certificate; default: system roots")
    .option("--payload <json>", "custom allocation payload (JSON)")
    .option("--out-dir <dir>", "where to write the key and the issued chain", ".")
    .option("--timeout-seconds <n>", "overall deadline including retries", "300")
    .option("--verbose", "log protocol steps (topics, statuses, timings; never secrets) to stderr")
    .option("--json", "print the result as JSON")
    .action(async (options: ProvisionCliOptions) => {
      const { io } = context(command);
      const target = await targetFrom(options, io);
      const plan = checkOptions(target);
      const attestation = await attestationFrom(target, io);

      let keyPair: KeyPair | undefined;
      let csr: ProvisionCsr | undefined;
      if (plan.csrKeyType !== undefined) {
        keyPair = await generateKeyPair(plan.csrKeyType);
        const request = await createCsr(attestation.registrationId, keyPair);
        csr = { wire: request.wire, publicKey: keyPair.publicKey };
      }
      const ca =
        target.caPem ??
        (options.ca === undefined ? undefined : await readFile(resolve(io.cwd, options.ca), "utf8"));

      const result = await provision({
        host: target.host,
        port: plan.port,
        transport: options.websocket === true ? "wss" : "mqtts",
        idScope: target.idScope,
        attestation,
        csr,
        payload: plan.payload,
        ca,
        timeoutMs: plan.timeoutSeconds * 1000,
        logger: stderrLogger(io, options.verbose === true),
      });

      let files: { privateKey: string; chain: string } | undefined;
      if (keyPair !== undefined && result.issuedCertificateChain !== undefined) {
        const outDir = resolve(io.cwd, options.outDir ?? ".");
        await mkdir(outDir, { recursive: true });
        files = {
          privateKey: resolve(outDir, `${result.registrationId}.key.pem`),
          chain: resolve(outDir, `${result.registrationId}.chain.pem`),
        };
        await writePrivateKeyFile(files.privateKey, keyPair.privateKey, { overwrite: true });
        await writeFileAtomic(files.chain, result.issuedCertificateChain.bundle, { mode: 0o644 });
      }

      context(command).print(jsonResult(result, files), humanResult(result, files));
    });
};

type Target = ProvisionCliOptions & { host: string; idScope: string; caPem?: string };

/** Where to provision: from --sim (flags given as well win), else from --host and --id-scope. */
async function targetFrom(options: ProvisionCliOptions, io: CliIo): Promise<Target> {
  if (options.sim === undefined) {
    if (options.host === undefined || options.idScope === undefined) {
      throw usageError(
        "say where DPS is: pass --host H --id-scope S, or --sim DIR (the data directory of a running skittle-sim)",
      );
    }
    return { ...options, host: options.host, idScope: options.idScope };
  }
  const sim = await simDps(await readSimFile(resolve(io.cwd, options.sim)));
  const simPort = options.websocket === true ? sim.wsPort : sim.port;
  const usesKeyOrCert = options.deviceKey !== undefined || options.cert !== undefined;
  return {
    ...options,
    host: options.host ?? sim.host,
    idScope: options.idScope ?? sim.idScope,
    ...(options.port === undefined && simPort !== undefined ? { port: String(simPort) } : {}),
    ...(options.ca === undefined ? { caPem: sim.ca } : {}),
    ...(options.groupKey === undefined && !usesKeyOrCert && sim.groupKey !== undefined
      ? { groupKey: sim.groupKey }
      : {}),
  };
}

interface Plan {
  port: number | undefined;
  csrKeyType: KeyType | undefined;
  payload: unknown;
  timeoutSeconds: number;
}

function checkOptions(options: ProvisionCliOptions): Plan {
  const credentials = [
    options.groupKey !== undefined && "--group-key",
    options.deviceKey !== undefined && "--device-key",
    options.cert !== undefined && "--cert",
  ].filter((flag): flag is string => flag !== false);
  if (credentials.length !== 1) {
    throw usageError(
      credentials.length === 0
        ? "pass one onboarding credential: --group-key K, --device-key K, or --cert F --key F [--chain F]"
        : `pass only one onboarding credential, got ${credentials.join(" and ")}`,
    );
  }
  if (options.cert !== undefined && options.key === undefined) {
    throw usageError("--cert needs --key <file> (the certificate's private key)");
  }
  if (options.cert === undefined && (options.key !== undefined || options.chain !== undefined)) {
    throw usageError("--key and --chain belong to X.509 attestation; pass them with --cert <file>");
  }
  if (options.cert === undefined && options.registrationId === undefined) {
    throw usageError("--registration-id <id> is required with --group-key or --device-key");
  }

  let port: number | undefined;
  if (options.port !== undefined) {
    port = Number(options.port);
    if (!/^\d+$/.test(options.port) || port < 1 || port > 65_535) {
      throw usageError(`--port must be a port number from 1 to 65535, got "${options.port}"`);
    }
  }

  let csrKeyType: KeyType | undefined;
  if (options.csrKeyType !== undefined) {
    if (!isKeyType(options.csrKeyType)) {
      throw usageError(`--csr-key-type must be one of ${KEY_TYPES.join(", ")}, got "${options.csrKeyType}"`);
    }
    csrKeyType = options.csrKeyType;
  } else if (options.csr === true) {
    csrKeyType = "ec-p384";
  }

  let payload: unknown;
  if (options.payload !== undefined) {
    try {
      payload = JSON.parse(options.payload);
    } catch {
      throw usageError('--payload must be JSON, e.g. --payload \'{"site":"kitchen"}\'');
    }
  }

  const timeoutText = options.timeoutSeconds ?? "300";
  const timeoutSeconds = Number(timeoutText);
  if (!/^\d+(\.\d+)?$/.test(timeoutText) || timeoutSeconds <= 0 || timeoutSeconds > 2_000_000) {
    throw usageError(`--timeout-seconds must be a positive number of seconds, got "${timeoutText}"`);
  }
  return { port, csrKeyType, payload, timeoutSeconds };
}

async function attestationFrom(options: ProvisionCliOptions, io: CliIo): Promise<Attestation> {
  if (options.cert !== undefined) {
    const attestation = await loadX509Attestation(
      {
        cert: options.cert,
        key: options.key ?? "",
        chain: options.chain,
      },
      { cwd: io.cwd },
    );
    if (
      options.registrationId !== undefined &&
      options.registrationId.toLowerCase() !== attestation.registrationId
    ) {
      throw usageError(
        `--registration-id "${options.registrationId}" differs from the certificate's CN "${attestation.registrationId}"; with X.509 the registration id is the CN (omit --registration-id)`,
      );
    }
    return attestation;
  }
  const registrationId = options.registrationId ?? "";
  return options.groupKey !== undefined
    ? symmetricKeyAttestation({ registrationId, groupKey: options.groupKey })
    : symmetricKeyAttestation({ registrationId, deviceKey: options.deviceKey ?? "" });
}

function jsonResult(
  result: RegistrationResult,
  files: { privateKey: string; chain: string } | undefined,
): unknown {
  const { issuedCertificateChain, ...rest } = result;
  return {
    ...rest,
    ...(issuedCertificateChain === undefined
      ? {}
      : {
          issuedCertificateChain: {
            pems: issuedCertificateChain.pems,
            certificates: issuedCertificateChain.certificates.map(
              ({ publicKey: _publicKey, pem: _pem, ...facts }) => ({
                ...facts,
                notBefore: facts.notBefore.toISOString(),
                notAfter: facts.notAfter.toISOString(),
              }),
            ),
          },
        }),
    files,
  };
}

function humanResult(
  result: RegistrationResult,
  files: { privateKey: string; chain: string } | undefined,
): string {
  const lines = [
    `status:      ${result.status}${result.substatus === undefined ? "" : ` (${result.substatus})`}`,
    `device id:   ${result.deviceId}`,
    `hub:         ${result.assignedHub}`,
  ];
  const leaf = result.issuedCertificateChain?.certificates[0];
  if (leaf !== undefined) {
    lines.push(
      `certificate: ${leaf.subject}, issued by ${leaf.issuer}, valid until ${leaf.notAfter.toISOString()}`,
    );
  }
  if (files !== undefined) {
    lines.push(`private key: ${files.privateKey}`);
    lines.push(
      `chain:       ${files.chain} (${result.issuedCertificateChain?.pems.length ?? 0} certificates, leaf first)`,
    );
  }
  return lines.join("\n");
}
