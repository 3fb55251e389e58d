import type { CommandContext } from "@skittlesorter/cli-shell";
import type { Command } from "commander";
import { readSimFile } from "../../sim-file.ts";
import { chooseCaName, resolvePath } from "./args.ts";
import { caFiles } from "./layout.ts";
import { onboardCaDirectory } from "./onboard.ts";

interface OnboardOptions {
  sim: string;
  caDir: string;
  name?: string | undefined;
  groupId?: string | undefined;
  credentialPolicy: string;
  json?: boolean | undefined;
}

/** Registers `skittle pki onboard`. */
export function addOnboardCommand(pki: Command, context: (command: Command) => CommandContext): void {
  const onboard = pki
    .command("onboard")
    .description(
      "Onboard a CA directory to a running skittle-sim: upload the root and intermediate CA certificates, " +
        "prove possession of both (verification code → certificate with CN = code signed by the CA → " +
        "verified), and create an X.509 enrollment group on the intermediate linked to a credential policy.",
    )
    .requiredOption("--sim <file>", "sim.json of a running skittle-sim (or its data directory)")
    .requiredOption("--ca-dir <dir>", "CA directory made by `skittle pki init`")
    .option("--name <name>", "CA name in --ca-dir (needed when it holds several)")
    .option("--group-id <id>", "enrollment group id (default: {name}-x509)")
    .option(
      "--credential-policy <name>",
      "ADR credential policy the group issues certificates with",
      "default",
    )
    .option("--json", "print JSON")
    .action(async (options: OnboardOptions) => {
      const ctx = context(onboard);
      const caDir = resolvePath(ctx, "--ca-dir", options.caDir);
      const caName = await chooseCaName(caDir, options.name);
      const sim = await readSimFile(resolvePath(ctx, "--sim", options.sim));
      const result = await onboardCaDirectory(sim, caFiles(caDir, caName), {
        caName,
        groupId: options.groupId ?? `${caName}-x509`,
        credentialPolicy: options.credentialPolicy,
      });
      ctx.print(
        result,
        [
          ...result.certificates.map(
            (cert) =>
              `${cert.name}: ${cert.uploaded ? "uploaded" : "already uploaded"}, ${cert.verified ? "verified" : "NOT verified"} (${cert.subject})`,
          ),
          `enrollment group ${result.enrollmentGroup.id}: X.509 on ${result.enrollmentGroup.caName}, credential policy ${result.enrollmentGroup.credentialPolicy}`,
        ].join("\n"),
      );
    });
}
