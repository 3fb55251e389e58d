import type { CommandGroup } from "@skittlesorter/cli-shell";
import { SimulatorError } from "../errors.ts";
import { type Globals, helpers, table, wholeNumber, withGlobals } from "./shared.ts";

function property(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      `--property takes name=value, e.g. --property color=red; got "${value}"`,
    );
  }
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** `c2d`: cloud-to-device messages. */
export const c2dCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
  const c2d = program.command("c2d").description("cloud-to-device messages of the simulator's hub");
  withGlobals(
    c2d
      .command("send <deviceId> <body>")
      .description("queue a message for a device; delivered now if it is connected, else when it connects"),
  )
    .option("--property <name=value>", "application property (repeat for more)", property)
    .option("--message-id <id>", "message id")
    .option("--correlation-id <id>", "correlation id")
    .option("--content-type <type>", "content type, e.g. application/json")
    .option("--ttl-seconds <n>", "time to live, 1-172800 (default: IoT Hub's 3600)", wholeNumber)
    .action(
      async (
        deviceId: string,
        body: string,
        options: Globals & {
          property?: Record<string, string>;
          messageId?: string;
          correlationId?: string;
          contentType?: string;
          ttlSeconds?: number;
        },
      ) => {
        const admin = await client(options);
        const sent = await admin.sendCloudToDeviceMessage(deviceId, {
          body,
          ...(options.property === undefined ? {} : { properties: options.property }),
          ...(options.messageId === undefined ? {} : { messageId: options.messageId }),
          ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
          ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
          ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
        });
        print(
          options,
          sent,
          `message ${sent.sequenceNumber} for ${deviceId}: ${sent.state}, expires ${sent.expiryTimeUtc}`,
        );
      },
    );
  withGlobals(c2d.command("list <deviceId>").description("list a device's messages and their state")).action(
    async (deviceId: string, options: Globals) => {
      const admin = await client(options);
      const list = await admin.listCloudToDeviceMessages(deviceId);
      print(
        options,
        list,
        list.length === 0
          ? "no cloud-to-device messages"
          : table([
              ["SEQ", "MESSAGE ID", "STATE", "DELIVERIES", "ENQUEUED", "EXPIRES", "BODY"],
              ...list.map((item) => [
                String(item.sequenceNumber),
                item.messageId ?? "-",
                item.state === "deadLettered" ? `deadLettered (${item.deadLetterReason})` : item.state,
                String(item.deliveryCount),
                item.enqueuedTime,
                item.expiryTimeUtc,
                item.bodyEncoding === "utf8" ? item.body.slice(0, 40) : "(binary)",
              ]),
            ]),
      );
    },
  );
};
