import type { CommandContext } from "@skittlesorter/cli-shell";
import type { Command } from "commander";
import { collect, keyValue } from "./args.ts";
import { deviceFrom, deviceOptions, type HubDeviceOptions, withDevice } from "./device.ts";

interface SendOptions extends HubDeviceOptions {
  property?: string[] | undefined;
  contentType?: string | undefined;
  messageId?: string | undefined;
}

/** Registers `skittle hub send`. */
export function addSendCommand(hub: Command, context: (command: Command) => CommandContext): void {
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
}
