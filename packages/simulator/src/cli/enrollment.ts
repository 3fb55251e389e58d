import type { Command, CommandGroup } from "@skittlesorter/cli-shell";
import { Option } from "commander";
import { SimulatorError } from "../errors.ts";
import { type Globals, helpers, readPem, SHOW_SECRETS, secretsQuery, table, withGlobals } from "./shared.ts";

const kindPath = (individual: boolean | undefined): string =>
  individual ? "/admin/individual-enrollments" : "/admin/enrollment-groups";

/** `enrollment`: enrollment groups and individual enrollments. */
export const enrollmentCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
  const enrollment = program
    .command("enrollment")
    .description("manage enrollment groups and individual enrollments");
  registerCreate(enrollment, helpers(context(program).io));

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
};

/** `enrollment create`: the body of an enrollment from the options. */
function registerCreate(enrollment: Command, { print, client }: ReturnType<typeof helpers>): void {
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
        .choices(["hashed", "geoLatency", "static", "custom"])
        .default("hashed"),
    )
    .option("--hub <name...>", "hashed, geoLatency, custom: hubs to choose from; static: the hub")
    .option("--webhook <url>", "custom allocation: the webhook DPS posts allocation requests to")
    .addOption(
      new Option("--reprovision <policy>", "on re-registration to another hub")
        .choices(["migrate", "reset", "never"])
        .default("migrate"),
    )
    .option("--initial-twin <json>", 'initial twin, e.g. \'{"tags":{},"properties":{"desired":{}}}\'')
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
      Object.assign(body, allocationOptions(options));
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
}

/** The webhook, reprovisioning and initial twin options as admin body fields. */
function allocationOptions(options: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {
    reprovisionPolicy: {
      updateHubAssignment: options.reprovision !== "never",
      migrateDeviceData: options.reprovision !== "reset",
    },
  };
  if (options.webhook !== undefined) {
    body.customAllocationDefinition = { webhookUrl: options.webhook, apiVersion: "2021-10-01" };
  }
  if (options.initialTwin !== undefined) {
    try {
      body.initialTwin = JSON.parse(options.initialTwin as string);
    } catch {
      throw new SimulatorError(
        "SIM_INVALID_OPTION",
        '--initial-twin must be JSON, e.g. \'{"tags":{"site":"lab"},"properties":{"desired":{"interval":5}}}\'.',
      );
    }
  }
  return body;
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
