import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Logger } from "@skittlesorter/core";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { AdminClient, dataDirOf, readSimConfig as readSimConfigFor } from "../admin/client.ts";
import type { SimConfig } from "../config.ts";
import { SimulatorError } from "../errors.ts";
import { startSimulator } from "../simulator.ts";

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface MainOptions {
  io?: CliIo;
  /** Stops `start` like SIGTERM does (tests). */
  signal?: AbortSignal;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

const LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
type Level = (typeof LEVELS)[number];

function stderrLogger(io: CliIo, level: Level): Logger {
  const rank = LEVELS.indexOf(level);
  const line =
    (name: Exclude<Level, "silent">) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (LEVELS.indexOf(name) < rank) return;
      const extra =
        fields === undefined || Object.keys(fields).length === 0 ? "" : ` ${JSON.stringify(fields)}`;
      io.stderr(`${new Date().toISOString()} ${name.toUpperCase()} ${message}${extra}\n`);
    };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function port(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65535) {
    throw new InvalidArgumentError("expected a port number 0-65535 (0 = any free port).");
  }
  return parsed;
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected a whole number >= 0.");
  return Number(value);
}

interface Globals {
  dataDir: string;
  json?: boolean;
  showSecrets?: boolean;
}

const SHOW_SECRETS = "include keys (enrollment keys, derived device keys) in the output; off by default";

/** `?includeSecrets=true` when the user passed `--show-secrets`. */
function secretsQuery(options: Globals): string {
  return options.showSecrets ? "?includeSecrets=true" : "";
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, index) => cell.padEnd(widths[index] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

async function readPem(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new SimulatorError("SIM_INVALID_OPTION", `Cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function readyLine(config: SimConfig): string {
  const hub = config.hubs[0];
  return (
    `skittle-sim ready: dps=mqtts://${config.dps.endpoint} wss=${config.dps.wsUrl} ` +
    `hub=${hub?.hostname ?? "-"} http=${config.http.url} dashboard=${config.http.dashboardUrl} idScope=${config.idScope} ` +
    `config=${config.dataDir}/sim.json`
  );
}

function buildProgram(io: CliIo, signal: AbortSignal | undefined): Command {
  const program = new Command("skittle-sim")
    .description("Azure IoT Hub DPS (with ADR certificate issuance) and IoT Hub on a laptop.")
    .version(version(), "-V, --version")
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  const withGlobals = (command: Command): Command =>
    command
      .requiredOption(
        "--data-dir <dir>",
        "the simulator's data directory (or the sim.json in it, as `skittle --sim` takes)",
        dataDirOf,
      )
      .option("--json", "print JSON")
      .exitOverride()
      .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  const print = (globals: Globals, json: unknown, human: string): void => {
    io.stdout(globals.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
  };
  const client = (globals: Globals): Promise<AdminClient> => AdminClient.fromDataDir(globals.dataDir);

  withGlobals(program.command("start").description("start the simulator; prints one line containing `ready`"))
    .option("--host <address>", "address every endpoint binds to", "127.0.0.1")
    .option(
      "--allow-host <name...>",
      "more host names the HTTP server answers to (localhost, 127.0.0.1, [::1] and --host always are)",
    )
    .option("--dps-port <n>", "DPS MQTT/TLS port (0 = any free; default: previous run's)", port)
    .option("--dps-ws-port <n>", "DPS MQTT-over-WebSocket port (default: previous run's)", port)
    .option("--hub-port <n>", "IoT Hub MQTT/TLS port (default: previous run's)", port)
    .option("--hub-ws-port <n>", "IoT Hub MQTT-over-WebSocket port (default: previous run's)", port)
    .option("--http-port <n>", "admin API, ADR REST and dashboard port (default: previous run's)", port)
    .option(
      "--assignment-delay-ms <ms>",
      "keep registrations `assigning` this long (clients must poll)",
      wholeNumber,
    )
    .option("--strict-csr", "accept only EC P-384 CSRs, as the 2025-07-01-preview documents")
    .option("--no-strict-csr", "accept EC P-384/P-256 and RSA 2048-4096 CSRs")
    .option(
      "--registrations-per-minute <n>",
      "register quota per minute, 429 beyond (0 = unlimited)",
      wholeNumber,
    )
    .addOption(new Option("--log-level <level>", "stderr log level").choices(LEVELS).default("info"))
    .action(async (options: Globals & Record<string, unknown>) => {
      const logger = stderrLogger(io, options.logLevel as Level);
      const stop = new AbortController();
      const onSignal = (name: string) => () => {
        logger.info(`${name} received, stopping`);
        stop.abort();
      };
      const onTerm = onSignal("SIGTERM");
      const onInt = onSignal("SIGINT");
      process.once("SIGTERM", onTerm);
      process.once("SIGINT", onInt);
      signal?.addEventListener("abort", () => stop.abort(), { once: true });
      try {
        const simulator = await startSimulator({
          dataDir: options.dataDir,
          host: options.host as string,
          ...(options.allowHost === undefined ? {} : { allowedHostNames: options.allowHost as string[] }),
          ...(options.dpsPort === undefined ? {} : { dpsPort: options.dpsPort as number }),
          ...(options.dpsWsPort === undefined ? {} : { dpsWsPort: options.dpsWsPort as number }),
          ...(options.hubPort === undefined ? {} : { hubPort: options.hubPort as number }),
          ...(options.hubWsPort === undefined ? {} : { hubWsPort: options.hubWsPort as number }),
          ...(options.httpPort === undefined ? {} : { httpPort: options.httpPort as number }),
          ...(options.assignmentDelayMs === undefined
            ? {}
            : { assignmentDelayMs: options.assignmentDelayMs as number }),
          ...(options.strictCsr === undefined ? {} : { strictCsr: options.strictCsr as boolean }),
          ...(options.registrationsPerMinute === undefined
            ? {}
            : { registrationsPerMinute: options.registrationsPerMinute as number }),
          logger,
          signal: stop.signal,
        });
        // Exactly one line, JSON or text, so scripts can wait for it.
        io.stdout(
          `${options.json ? JSON.stringify({ event: "ready", ...simulator.config }) : readyLine(simulator.config)}\n`,
        );
        if (!stop.signal.aborted) {
          await new Promise<void>((resolvePromise) =>
            stop.signal.addEventListener("abort", () => resolvePromise(), { once: true }),
          );
        }
        await simulator.close();
        io.stderr("skittle-sim stopped\n");
      } finally {
        process.off("SIGTERM", onTerm);
        process.off("SIGINT", onInt);
      }
    });

  // --- enrollments ------------------------------------------------------------------------------
  const enrollment = program
    .command("enrollment")
    .description("manage enrollment groups and individual enrollments");
  const kindPath = (individual: boolean | undefined): string =>
    individual ? "/admin/individual-enrollments" : "/admin/enrollment-groups";

  withGlobals(
    enrollment.command("create <id>").description("create an enrollment group (or --individual enrollment)"),
  )
    .option("--individual", "an individual enrollment (id = registration id)")
    .addOption(
      new Option("--attestation <type>", "attestation")
        .choices(["symmetric-key", "x509"])
        .default("symmetric-key"),
    )
    .option("--primary-key <key>", "symmetric key (default: generated)")
    .option("--secondary-key <key>", "symmetric key (default: generated)")
    .option("--ca <name>", "X.509 group: the uploaded, verified CA certificate devices chain to")
    .option("--secondary-ca <name>", "X.509 group: a second CA certificate")
    .option("--certificate <file>", "X.509 individual: the device certificate (PEM)")
    .option("--thumbprint <hex>", "X.509 individual: the device certificate's SHA-1 or SHA-256 thumbprint")
    .option("--credential-policy <name>", "ADR credential policy that issues certificates for CSRs")
    .option("--device-id <id>", "individual: IoT Hub device id (default: the registration id)")
    .addOption(
      new Option("--allocation <policy>", "allocation policy")
        .choices(["hashed", "static"])
        .default("hashed"),
    )
    .option("--hub <name...>", "hashed: hubs to choose from; static: the hub")
    .option("--disabled", "create it disabled")
    .option("--replace", "replace an existing enrollment of this id")
    .option("--show-secrets", SHOW_SECRETS)
    .action(async (id: string, options: Globals & Record<string, unknown>) => {
      const attestation: Record<string, unknown> = {
        type: options.attestation === "x509" ? "x509" : "symmetricKey",
      };
      if (options.primaryKey !== undefined) attestation.primaryKey = options.primaryKey;
      if (options.secondaryKey !== undefined) attestation.secondaryKey = options.secondaryKey;
      if (options.ca !== undefined) attestation.caName = options.ca;
      if (options.secondaryCa !== undefined) attestation.secondaryCaName = options.secondaryCa;
      if (options.certificate !== undefined)
        attestation.certificate = await readPem(options.certificate as string);
      if (options.thumbprint !== undefined) attestation.thumbprint = options.thumbprint;
      const body: Record<string, unknown> = {
        attestation,
        enabled: options.disabled !== true,
        allocationPolicy: options.allocation,
      };
      if (options.credentialPolicy !== undefined) body.credentialPolicy = options.credentialPolicy;
      if (options.deviceId !== undefined) body.deviceId = options.deviceId;
      const hubs = options.hub as string[] | undefined;
      if (hubs !== undefined) {
        if (options.allocation === "static") body.staticHub = hubs[0];
        else body.iotHubs = hubs;
      }
      const admin = await client(options);
      const result = await admin.request<Record<string, unknown>>(
        "PUT",
        `${kindPath(options.individual as boolean)}/${encodeURIComponent(id)}${secretsQuery(options)}`,
        { body, headers: options.replace ? {} : { "if-none-match": "*" } },
      );
      print(
        options,
        result.body,
        `${result.status === 201 ? "created" : "replaced"} ${describeEnrollment(result.body)}`,
      );
    });

  withGlobals(enrollment.command("list").description("list enrollments"))
    .option("--individual", "individual enrollments only")
    .option("--group", "enrollment groups only")
    .option("--show-secrets", SHOW_SECRETS)
    .action(async (options: Globals & { individual?: boolean; group?: boolean }) => {
      const admin = await client(options);
      const secrets = secretsQuery(options);
      const groups = options.individual
        ? []
        : await admin.get<Record<string, unknown>[]>(`${kindPath(false)}${secrets}`);
      const individuals = options.group
        ? []
        : await admin.get<Record<string, unknown>[]>(`${kindPath(true)}${secrets}`);
      const all = [...groups, ...individuals];
      print(
        options,
        all,
        all.length === 0
          ? "no enrollments"
          : table([
              ["ID", "KIND", "ATTESTATION", "ENABLED", "CREDENTIAL POLICY", "ALLOCATION"],
              ...all.map((item) => [
                String(item.id),
                String(item.kind),
                String((item.attestation as { type?: string } | undefined)?.type),
                String(item.enabled),
                String(item.credentialPolicy ?? "-"),
                String(item.allocationPolicy),
              ]),
            ]),
      );
    });

  withGlobals(enrollment.command("show <id>").description("show an enrollment (keys with --show-secrets)"))
    .option("--individual", "an individual enrollment")
    .option("--show-secrets", SHOW_SECRETS)
    .action(async (id: string, options: Globals & { individual?: boolean }) => {
      const admin = await client(options);
      const body = await admin.get(
        `${kindPath(options.individual)}/${encodeURIComponent(id)}${secretsQuery(options)}`,
      );
      print(options, body, JSON.stringify(body, null, 2));
    });

  withGlobals(enrollment.command("delete <id>").description("delete an enrollment"))
    .option("--individual", "an individual enrollment")
    .action(async (id: string, options: Globals & { individual?: boolean }) => {
      const admin = await client(options);
      await admin.request("DELETE", `${kindPath(options.individual)}/${encodeURIComponent(id)}`);
      print(options, { deleted: id }, `deleted ${id}`);
    });

  for (const [name, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const) {
    withGlobals(enrollment.command(`${name} <id>`).description(`${name} an enrollment`))
      .option("--individual", "an individual enrollment")
      .action(async (id: string, options: Globals & { individual?: boolean }) => {
        const admin = await client(options);
        const result = await admin.request<Record<string, unknown>>(
          "PATCH",
          `${kindPath(options.individual)}/${encodeURIComponent(id)}`,
          { body: { enabled } },
        );
        print(options, result.body, `${name}d ${id}`);
      });
  }

  // --- CA certificates --------------------------------------------------------------------------
  const ca = program.command("ca").description("CA certificates and proof of possession");
  const caPath = (name: string): string => `/admin/certificates/${encodeURIComponent(name)}`;
  const currentEtag = async (admin: AdminClient, name: string, given: string | undefined): Promise<string> =>
    given ?? (await admin.get<{ etag: string }>(caPath(name))).etag;

  withGlobals(ca.command("upload <name> <pem>").description("upload a CA certificate (unverified)"))
    .option("--etag <etag>", "replace an existing certificate of this name")
    .action(async (name: string, file: string, options: Globals & { etag?: string }) => {
      const admin = await client(options);
      const result = await admin.request<CaView>("PUT", caPath(name), {
        body: { certificate: await readPem(file) },
        headers: options.etag === undefined ? {} : { "if-match": options.etag },
      });
      print(
        options,
        result.body,
        `uploaded ${name} (${result.body.properties.subject}), unverified; etag ${result.body.etag}\n` +
          `next: skittle-sim ca verification-code ${name} --etag ${result.body.etag} --data-dir ${options.dataDir}`,
      );
    });

  withGlobals(
    ca.command("verification-code <name>").description("generate a proof-of-possession code (new etag)"),
  )
    .option("--etag <etag>", "the certificate's current etag (default: read it)")
    .action(async (name: string, options: Globals & { etag?: string }) => {
      const admin = await client(options);
      const etag = await currentEtag(admin, name, options.etag);
      const result = await admin.request<CaView>("POST", `${caPath(name)}/generate-verification-code`, {
        headers: { "if-match": etag },
      });
      print(
        options,
        result.body,
        `verification code: ${result.body.properties.verificationCode}\netag: ${result.body.etag}\n` +
          `next: sign a certificate with CN=${result.body.properties.verificationCode} using ${name}'s key, then\n` +
          `      skittle-sim ca verify ${name} verification.pem --etag ${result.body.etag} --data-dir ${options.dataDir}`,
      );
    });

  withGlobals(
    ca
      .command("verify <name> <pem>")
      .description("complete proof of possession with the signed verification certificate"),
  )
    .option("--etag <etag>", "the etag returned with the verification code (default: read it)")
    .action(async (name: string, file: string, options: Globals & { etag?: string }) => {
      const admin = await client(options);
      const etag = await currentEtag(admin, name, options.etag);
      const result = await admin.request<CaView>("POST", `${caPath(name)}/verify`, {
        body: { certificate: await readPem(file) },
        headers: { "if-match": etag },
      });
      print(options, result.body, `${name} verified; etag ${result.body.etag}`);
    });

  withGlobals(ca.command("list").description("list CA certificates")).action(async (options: Globals) => {
    const admin = await client(options);
    const list = await admin.get<CaView[]>("/admin/certificates");
    print(
      options,
      list,
      list.length === 0
        ? "no CA certificates"
        : table([
            ["NAME", "VERIFIED", "SUBJECT", "SHA-1 THUMBPRINT", "ETAG"],
            ...list.map((item) => [
              item.name,
              String(item.properties.isVerified),
              item.properties.subject,
              item.properties.thumbprint,
              item.etag,
            ]),
          ]),
    );
  });

  withGlobals(ca.command("show <name>").description("show a CA certificate")).action(
    async (name: string, options: Globals) => {
      const admin = await client(options);
      const body = await admin.get(caPath(name));
      print(options, body, JSON.stringify(body, null, 2));
    },
  );

  withGlobals(ca.command("delete <name>").description("delete a CA certificate"))
    .requiredOption("--etag <etag>", "its current etag, or * to skip the check")
    .action(async (name: string, options: Globals & { etag: string }) => {
      const admin = await client(options);
      await admin.request("DELETE", caPath(name), { headers: { "if-match": options.etag } });
      print(options, { deleted: name }, `deleted ${name}`);
    });

  // --- registrations ----------------------------------------------------------------------------
  const registration = program.command("registration").description("device registration records");
  withGlobals(registration.command("list").description("list registrations"))
    .option("--enrollment <id>", "only those of this enrollment")
    .action(async (options: Globals & { enrollment?: string }) => {
      const admin = await client(options);
      const query =
        options.enrollment === undefined ? "" : `?enrollment=${encodeURIComponent(options.enrollment)}`;
      const list = await admin.get<Record<string, unknown>[]>(`/admin/registrations${query}`);
      print(
        options,
        list,
        list.length === 0
          ? "no registrations"
          : table([
              ["REGISTRATION", "STATUS", "SUBSTATUS", "ASSIGNED HUB", "DEVICE", "ENROLLMENT", "UPDATED"],
              ...list.map((item) => [
                String(item.registrationId),
                String(item.status),
                String(item.substatus ?? "-"),
                String(item.assignedHub ?? "-"),
                String(item.deviceId ?? "-"),
                String(item.enrollmentId),
                String(item.lastUpdatedDateTimeUtc),
              ]),
            ]),
      );
    });
  withGlobals(registration.command("show <id>").description("show a registration")).action(
    async (id: string, options: Globals) => {
      const admin = await client(options);
      const body = await admin.get(`/admin/registrations/${encodeURIComponent(id)}`);
      print(options, body, JSON.stringify(body, null, 2));
    },
  );
  withGlobals(registration.command("delete <id>").description("delete a registration record")).action(
    async (id: string, options: Globals) => {
      const admin = await client(options);
      await admin.request("DELETE", `/admin/registrations/${encodeURIComponent(id)}`);
      print(options, { deleted: id }, `deleted ${id}`);
    },
  );

  // --- ADR credential policies ------------------------------------------------------------------
  const policy = program.command("policy").description("ADR credential policies (issuing CAs)");
  withGlobals(policy.command("list").description("list credential policies")).action(
    async (options: Globals) => {
      const admin = await client(options);
      const list =
        await admin.get<{ name: string; validityDays: number; issuingCaThumbprint: string }[]>(
          "/admin/adr/policies",
        );
      print(
        options,
        list,
        table([
          ["NAME", "VALIDITY (DAYS)", "ISSUING CA SHA-256"],
          ...list.map((item) => [item.name, String(item.validityDays), item.issuingCaThumbprint]),
        ]),
      );
    },
  );
  withGlobals(policy.command("create <name>").description("create (or update) a credential policy"))
    .option("--validity-days <n>", "leaf certificate validity, 7-90", wholeNumber, 30)
    .action(async (name: string, options: Globals & { validityDays: number }) => {
      const admin = await client(options);
      const result = await admin.request<Record<string, unknown>>(
        "PUT",
        `/admin/adr/policies/${encodeURIComponent(name)}`,
        {
          body: { validityDays: options.validityDays },
        },
      );
      print(
        options,
        result.body,
        `${result.status === 201 ? "created" : "updated"} policy ${name} (${options.validityDays} days)`,
      );
    });

  withGlobals(
    policy
      .command("sync")
      .description("synchronize the credentials: the hub trusts the issuing CA of every current policy"),
  ).action(async (options: Globals) => {
    const admin = await client(options);
    const result = await admin.request<{ synchronizedAt: string; policies: { name: string }[] }>(
      "POST",
      "/admin/adr/synchronize",
    );
    print(
      options,
      result.body,
      `synchronized ${result.body.policies.map((item) => item.name).join(", ")} at ${result.body.synchronizedAt}`,
    );
  });

  // --- IoT Hub: devices, telemetry, twins, methods ----------------------------------------------
  const device = program.command("device").description("devices of the simulator's IoT hub");
  withGlobals(device.command("list").description("list hub devices with connection state and message counts"))
    .option("--hub <name>", "only this hub's devices")
    .option("--show-secrets", SHOW_SECRETS)
    .action(async (options: Globals & { hub?: string }) => {
      const admin = await client(options);
      const query = new URLSearchParams();
      if (options.hub !== undefined) query.set("hub", options.hub);
      if (options.showSecrets) query.set("includeSecrets", "true");
      const text = query.toString();
      const list = await admin.get<Record<string, unknown>[]>(
        `/admin/devices${text === "" ? "" : `?${text}`}`,
      );
      print(
        options,
        list,
        list.length === 0
          ? "no devices"
          : table([
              ["DEVICE", "STATUS", "CONNECTION", "AUTH", "MESSAGES", "CERT DAYS LEFT", "LAST ACTIVITY"],
              ...list.map((item) => [
                String(item.deviceId),
                String(item.status),
                String(item.connectionState),
                String((item.authentication as { type?: string } | undefined)?.type ?? "-"),
                String(item.messageCount),
                String((item.certificate as { daysLeft?: number } | null)?.daysLeft ?? "-"),
                String(item.lastActivityTime ?? "-"),
              ]),
            ]),
      );
    });

  const telemetry = program.command("telemetry").description("device-to-cloud messages the hub stored");
  withGlobals(
    telemetry.command("list").description("list stored messages (oldest first) with body and properties"),
  )
    .option("--device <id>", "only this device's messages")
    .option("--limit <n>", "the newest N messages (1-10000)", wholeNumber, 100)
    .option("--since <time>", "only messages enqueued at or after this ISO 8601 time")
    .option("--until <time>", "only messages enqueued at or before this ISO 8601 time")
    .action(async (options: Globals & { device?: string; limit: number; since?: string; until?: string }) => {
      const admin = await client(options);
      const query = new URLSearchParams({ limit: String(options.limit) });
      if (options.device !== undefined) query.set("device", options.device);
      if (options.since !== undefined) query.set("from", options.since);
      if (options.until !== undefined) query.set("to", options.until);
      const list = await admin.get<TelemetryItem[]>(`/admin/telemetry?${query.toString()}`);
      print(
        options,
        list,
        list.length === 0
          ? "no messages"
          : table([
              ["ID", "ENQUEUED", "DEVICE", "PROPERTIES", "BODY"],
              ...list.map((item) => [
                String(item.id),
                item.enqueuedTime,
                item.deviceId,
                Object.entries({ ...item.systemProperties, ...item.properties })
                  .filter(
                    ([key]) => !["connectionDeviceId", "connectionAuthMethod", "enqueuedTime"].includes(key),
                  )
                  .map(([key, value]) => `${key}=${value}`)
                  .join(" "),
                item.bodyEncoding === "utf8" ? item.body.replaceAll("\n", " ") : `(base64) ${item.body}`,
              ]),
            ]),
      );
    });

  const twin = program.command("twin").description("device twins of the simulator's hub");
  withGlobals(twin.command("show <deviceId>").description("show a device's twin")).action(
    async (deviceId: string, options: Globals) => {
      const admin = await client(options);
      const body = await admin.get(`/admin/devices/${encodeURIComponent(deviceId)}/twin`);
      print(options, body, JSON.stringify(body, null, 2));
    },
  );
  withGlobals(
    twin
      .command("set-desired <deviceId> <json>")
      .description(
        "patch desired properties (JSON merge patch: null deletes); pushed to the device if connected",
      ),
  ).action(async (deviceId: string, json: string, options: Globals) => {
    let desired: unknown;
    try {
      desired = JSON.parse(json);
    } catch {
      throw new SimulatorError(
        "SIM_INVALID_OPTION",
        `The desired patch must be a JSON object, e.g. '{"telemetryInterval": 3000}'; got ${json.slice(0, 100)}`,
      );
    }
    const admin = await client(options);
    const result = await admin.request<{ properties: { desired: { $version: number } } }>(
      "PATCH",
      `/admin/devices/${encodeURIComponent(deviceId)}/twin`,
      { body: { properties: { desired } } },
    );
    print(
      options,
      result.body,
      `desired properties of ${deviceId} now at version ${result.body.properties.desired.$version}`,
    );
  });

  const method = program.command("method").description("direct methods");
  withGlobals(
    method
      .command("invoke <deviceId> <methodName>")
      .description("invoke a direct method and print the device's answer"),
  )
    .option("--payload <json>", "method payload (JSON)", "null")
    .option("--timeout-seconds <n>", "how long to wait for the answer (5-300)", wholeNumber, 30)
    .option(
      "--connect-timeout-seconds <n>",
      "how long to wait for the device to come online (0-300)",
      wholeNumber,
      0,
    )
    .action(
      async (
        deviceId: string,
        methodName: string,
        options: Globals & { payload: string; timeoutSeconds: number; connectTimeoutSeconds: number },
      ) => {
        let payload: unknown;
        try {
          payload = JSON.parse(options.payload);
        } catch {
          throw new SimulatorError(
            "SIM_INVALID_OPTION",
            `--payload must be JSON; got ${options.payload.slice(0, 100)}`,
          );
        }
        const admin = new AdminClient((await readSimConfigFor(options.dataDir)).http.url, {
          timeoutMs: (options.timeoutSeconds + options.connectTimeoutSeconds + 10) * 1000,
        });
        const result = await admin.request<{ status: number; payload: unknown }>(
          "POST",
          `/admin/devices/${encodeURIComponent(deviceId)}/methods`,
          {
            body: {
              methodName,
              payload,
              responseTimeoutInSeconds: options.timeoutSeconds,
              connectTimeoutInSeconds: options.connectTimeoutSeconds,
            },
          },
        );
        print(
          options,
          result.body,
          `status ${result.body.status}\n${JSON.stringify(result.body.payload, null, 2)}`,
        );
      },
    );

  // --- hubs -------------------------------------------------------------------------------------
  const hub = program.command("hub").description("linked IoT hubs");
  withGlobals(hub.command("list").description("list linked hubs")).action(async (options: Globals) => {
    const admin = await client(options);
    const list = await admin.get<Record<string, unknown>[]>("/admin/hubs");
    print(
      options,
      list,
      table([
        ["NAME", "HOSTNAME", "WEIGHT", "APPLY ALLOCATION", "LOCAL"],
        ...list.map((item) => [
          String(item.name),
          String(item.hostname),
          String(item.allocationWeight),
          String(item.applyAllocationPolicy),
          String(item.local),
        ]),
      ]),
    );
  });
  withGlobals(hub.command("link <name>").description("link (or update) a hub"))
    .option("--hostname <host>", "its host name")
    .option("--weight <n>", "allocation weight", wholeNumber)
    .option("--no-apply-allocation-policy", "exclude it from hashed allocation unless an enrollment names it")
    .action(
      async (
        name: string,
        options: Globals & { hostname?: string; weight?: number; applyAllocationPolicy: boolean },
      ) => {
        const admin = await client(options);
        const body: Record<string, unknown> = { applyAllocationPolicy: options.applyAllocationPolicy };
        if (options.hostname !== undefined) body.hostname = options.hostname;
        if (options.weight !== undefined) body.allocationWeight = options.weight;
        const result = await admin.request("PUT", `/admin/hubs/${encodeURIComponent(name)}`, { body });
        print(options, result.body, `linked ${name}`);
      },
    );
  withGlobals(hub.command("unlink <name>").description("unlink a hub")).action(
    async (name: string, options: Globals) => {
      const admin = await client(options);
      await admin.request("DELETE", `/admin/hubs/${encodeURIComponent(name)}`);
      print(options, { unlinked: name }, `unlinked ${name}`);
    },
  );

  // --- settings ---------------------------------------------------------------------------------
  const settings = program.command("settings").description("runtime settings (persisted)");
  withGlobals(settings.command("show").description("show settings")).action(async (options: Globals) => {
    const admin = await client(options);
    const body = await admin.get("/admin/settings");
    print(options, body, JSON.stringify(body, null, 2));
  });
  withGlobals(settings.command("set").description("change settings"))
    .option("--assignment-delay-ms <ms>", "assignment delay", wholeNumber)
    .option("--strict-csr", "EC P-384 CSRs only")
    .option("--no-strict-csr", "any supported CSR key")
    .option("--registrations-per-minute <n>", "register quota (0 = unlimited)", wholeNumber)
    .action(async (options: Globals & Record<string, unknown>) => {
      const admin = await client(options);
      const body: Record<string, unknown> = {};
      for (const key of ["assignmentDelayMs", "strictCsr", "registrationsPerMinute"]) {
        if (options[key] !== undefined) body[key] = options[key];
      }
      const result = await admin.request("PATCH", "/admin/settings", { body });
      print(options, result.body, JSON.stringify(result.body, null, 2));
    });

  return program;
}

interface TelemetryItem {
  id: number;
  deviceId: string;
  enqueuedTime: string;
  systemProperties: Record<string, string>;
  properties: Record<string, string>;
  body: string;
  bodyEncoding: "utf8" | "base64";
}

interface CaView {
  name: string;
  etag: string;
  properties: { subject: string; thumbprint: string; isVerified: boolean; verificationCode?: string };
}

function describeEnrollment(body: Record<string, unknown>): string {
  const attestation = body.attestation as { type?: string; primaryKey?: string; caName?: string } | undefined;
  const what = body.kind === "individual" ? "individual enrollment" : "enrollment group";
  const detail =
    attestation?.type === "symmetricKey"
      ? "symmetric key"
      : `x509${attestation?.caName ? ` (CA ${attestation.caName})` : ""}`;
  return `${what} ${String(body.id)}: ${detail}, ${body.enabled ? "enabled" : "disabled"}, credential policy ${String(body.credentialPolicy ?? "none")}`;
}

/** Runs the `skittle-sim` CLI; resolves with the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo;
  const program = buildProgram(io, options.signal);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const coded = error as { code?: unknown; message?: unknown };
    const code = typeof coded?.code === "string" ? coded.code : "UNEXPECTED";
    io.stderr(`error [${code}]: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
