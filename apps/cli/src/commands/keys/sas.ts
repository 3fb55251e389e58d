import {
  createSasToken,
  deriveDeviceKey,
  dpsResourceUri,
  parseSasToken,
  validateRegistrationId,
} from "@skittlesorter/attestation";
import type { CommandGroup } from "@skittlesorter/cli-shell";
import { usageError } from "@skittlesorter/cli-shell";

interface SasOptions {
  idScope: string;
  registrationId: string;
  key?: string | undefined;
  groupKey?: string | undefined;
  ttlSeconds?: string | undefined;
}

/** Registers the `skittle sas` command. */
export const sasCommands: CommandGroup = (program, context) => {
  const sas = program
    .command("sas")
    .description(
      "Create a DPS registration SAS token (the MQTT password for symmetric-key attestation). " +
        "Prints the token, which is a secret.",
    )
    .requiredOption("--id-scope <scope>", "ID scope of the DPS instance, e.g. 0ne00000A0A")
    .requiredOption("--registration-id <id>", "registration id of the device (lowercased)")
    .option(
      "--key <base64>",
      "device key (individual enrollment key, or one derived with `skittle keys derive`)",
    )
    .option("--group-key <base64>", "enrollment-group key; the device key is derived from it first")
    .option("--ttl-seconds <n>", "token lifetime in seconds", "3600")
    .option("--json", "print JSON")
    .action((options: SasOptions) => {
      if ((options.key === undefined) === (options.groupKey === undefined)) {
        throw usageError("pass exactly one of --key <device key> or --group-key <group key>");
      }
      const ttlSeconds = parseTtl(options.ttlSeconds ?? "3600");
      const registrationId = validateRegistrationId(options.registrationId);
      const deviceKey =
        options.groupKey === undefined
          ? (options.key ?? "")
          : deriveDeviceKey(options.groupKey, registrationId);
      const resourceUri = dpsResourceUri(options.idScope, registrationId);
      const token = createSasToken(resourceUri, deviceKey, { keyName: "registration", ttlSeconds });
      const { expiresAt } = parseSasToken(token);
      context(sas).print({ token, resourceUri, expiresAt }, token);
    });
};

function parseTtl(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) <= 0) {
    throw usageError(`--ttl-seconds must be a positive whole number of seconds, got "${value}"`);
  }
  return Number(value);
}
