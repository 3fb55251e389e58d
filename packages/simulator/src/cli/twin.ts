import type { CommandGroup } from "@skittlesorter/cli-shell";
import { AdminClient, readSimConfig } from "../admin/client.ts";
import { SimulatorError } from "../errors.ts";
import { type Globals, helpers, wholeNumber, withGlobals } from "./shared.ts";

/** `twin` and `method`: device twins and direct methods. */
export const twinCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
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
        const admin = new AdminClient((await readSimConfig(options.dataDir)).http.url, {
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
};
