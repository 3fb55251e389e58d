import type { CommandGroup } from "@skittlesorter/cli-shell";
import type { AdminClient } from "../admin/client.ts";
import { type Globals, helpers, readPem, table, withGlobals } from "./shared.ts";

interface CaView {
  name: string;
  etag: string;
  properties: { subject: string; thumbprint: string; isVerified: boolean; verificationCode?: string };
}

/** `ca`: CA certificates and proof of possession. */
export const caCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
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
};
