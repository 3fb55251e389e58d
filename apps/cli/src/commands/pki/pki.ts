import type { CommandGroup } from "@skittlesorter/cli-shell";
import { addDeviceCommand } from "./device-command.ts";
import { addInitCommand } from "./init-command.ts";
import { addOnboardCommand } from "./onboard-command.ts";
import { addVerificationCertCommand } from "./verification-cert-command.ts";

/** Registers the `skittle pki` commands. */
export const pkiCommands: CommandGroup = (program, context) => {
  const pki = program
    .command("pki")
    .description(
      "A bootstrap X.509 hierarchy for DPS X.509 attestation, as the original setup scripts made it: " +
        "root CA (10 years, pathlen 1) → intermediate CA (5 years, pathlen 0) → device certificates. " +
        "CA directory layout: {name}-root.cert.pem, {name}-root.key.pem, {name}-intermediate.cert.pem, " +
        "{name}-intermediate.key.pem, {name}-chain.pem (intermediate + root); devices: {id}-device.cert.pem, " +
        "{id}-device.key.pem, {id}-device.full-chain.pem. Keys are written 0600 and never printed.",
    );

  addInitCommand(pki, context);
  addDeviceCommand(pki, context);
  addVerificationCertCommand(pki, context);
  addOnboardCommand(pki, context);
};
