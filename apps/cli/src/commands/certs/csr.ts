import { mkdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { CommandGroup } from "@skittlesorter/cli-shell";
import { CliError, usageError } from "@skittlesorter/cli-shell";
import {
  createCsr,
  DEFAULT_KEY_TYPE,
  generateKeyPair,
  KEY_TYPES,
  type KeyType,
  writeFileAtomic,
  writePrivateKeyFile,
} from "@skittlesorter/csr";
import { Option } from "commander";
import { pathExists } from "../../path-exists.ts";
import { checkedRegistrationId } from "../../registration-id-option.ts";

interface CsrCreateOptions {
  registrationId: string;
  keyType: KeyType;
  outDir: string;
  force?: boolean | undefined;
  json?: boolean | undefined;
}

/** What `skittle csr create --json` prints. */
export interface CsrCreateResult {
  registrationId: string;
  keyType: KeyType;
  keyFile: string;
  csrFile: string;
  /** base64 DER, the DPS `csr` field. */
  csrWire: string;
}

/** Registers the `skittle csr` commands. */
export const csrCommands: CommandGroup = (program, context) => {
  const csr = program
    .command("csr")
    .description("Certificate signing requests for DPS certificate issuance.");

  const create = csr
    .command("create")
    .description(
      "Generate a new private key and a PKCS#10 CSR with CN = registration id. " +
        "Writes <out-dir>/<id>.key.pem (mode 0600, never printed) and <out-dir>/<id>.csr.pem.",
    )
    .requiredOption("--registration-id <id>", "DPS registration id; becomes the CSR's CN (lowercased)")
    .addOption(
      new Option("--key-type <type>", "key algorithm and size")
        .choices([...KEY_TYPES])
        .default(DEFAULT_KEY_TYPE),
    )
    .requiredOption("--out-dir <dir>", "directory for the key and CSR files (created if missing)")
    .option("--force", "overwrite an existing private key file")
    .option("--json", "print JSON")
    .action(async (options: CsrCreateOptions) => {
      const ctx = context(create);
      const registrationId = checkedRegistrationId(options.registrationId);
      if (options.outDir.trim() === "") throw usageError("--out-dir must not be empty");
      const outDir = resolve(ctx.io.cwd, options.outDir);
      await ensureDirectory(outDir);
      const keyFile = join(outDir, `${registrationId}.key.pem`);
      const csrFile = join(outDir, `${registrationId}.csr.pem`);
      if (options.force !== true && (await pathExists(keyFile))) {
        throw new CliError(
          "KEY_FILE_EXISTS",
          `${keyFile} already exists: refusing to overwrite a private key. Pass --force to replace it, or choose another --out-dir.`,
        );
      }

      const keyPair = await generateKeyPair(options.keyType);
      const request = await createCsr(registrationId, keyPair);
      await writePrivateKeyFile(keyFile, keyPair.privateKey, { overwrite: options.force === true });
      await writeFileAtomic(csrFile, request.pem, { mode: 0o644 });

      const result: CsrCreateResult = {
        registrationId,
        keyType: request.keyType,
        keyFile,
        csrFile,
        csrWire: request.wire,
      };
      ctx.print(
        result,
        [
          `Private key: ${keyFile} (${request.keyType}, mode 0600; keep it secret)`,
          `CSR:         ${csrFile} (CN=${registrationId})`,
        ].join("\n"),
      );
    });
};

async function ensureDirectory(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    throw new CliError(
      "OUT_DIR_INVALID",
      `Cannot create the output directory ${path}: ${error instanceof Error ? error.message : String(error)}.`,
      { cause: error },
    );
  }
  if (!(await stat(path)).isDirectory()) {
    throw new CliError("OUT_DIR_INVALID", `${path} is not a directory: pass a directory as --out-dir.`);
  }
}
