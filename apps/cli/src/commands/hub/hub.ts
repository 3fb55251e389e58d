import type { CommandGroup } from "@skittlesorter/cli-shell";
import { addRenewCommand } from "./renew-command.ts";
import { addSendCommand } from "./send-command.ts";
import { addTwinCommand } from "./twin-command.ts";

/** Registers `skittle hub send`, `skittle hub twin` and `skittle hub renew`. */
export const hubCommands: CommandGroup = (program, context) => {
  const hub = program
    .command("hub")
    .description(
      "Talk to IoT Hub as a device, over MQTT with its X.509 certificate (@skittlesorter/hub-mqtt): bring-up checks " +
        "(send, twin) and certificate renewal through the hub (Azure certificate management, preview). The " +
        "device's credentials come from a skittle-sorter data directory (--data-dir) or from --cert/--key files.",
    );

  addSendCommand(hub, context);
  addTwinCommand(hub, context);
  addRenewCommand(hub, context);
};
