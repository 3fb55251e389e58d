import { deriveDeviceKey, validateRegistrationId } from "@skittlesorter/attestation";
import type { CommandGroup } from "@skittlesorter/cli-shell";

interface DeriveOptions {
  groupKey: string;
  registrationId: string;
}

/** Registers the `skittle keys` commands. */
export const keysCommands: CommandGroup = (program, context) => {
  const keys = program.command("keys").description("Symmetric keys for DPS enrollment groups.");

  const derive = keys
    .command("derive")
    .description(
      "Derive a device key from an enrollment-group key: base64(HMAC-SHA256(groupKey, registrationId)). " +
        "Prints the key, which is a secret.",
    )
    .requiredOption("--group-key <base64>", "primary or secondary key of the DPS enrollment group")
    .requiredOption("--registration-id <id>", "registration id of the device (lowercased)")
    .option("--json", "print JSON")
    .action((options: DeriveOptions) => {
      const registrationId = validateRegistrationId(options.registrationId);
      const deviceKey = deriveDeviceKey(options.groupKey, registrationId);
      context(derive).print({ registrationId, deviceKey }, deviceKey);
    });
};
