import { fileURLToPath } from "node:url";

/** A configuration file shipped in the package's `config/` folder (beside `src/` and `dist/`). */
const shipped = (name: string): string => fileURLToPath(new URL(`../../config/${name}`, import.meta.url));

/** The templates people copy and fill in, one per DPS attestation method. */
export const TEMPLATE_FILES = {
  sas: shipped("appsettings.sas.template.json"),
  x509: shipped("appsettings.x509.template.json"),
} as const;

/** The offline emulated rig that `skittle-sorter run --emulated` runs without `--config`. */
export const BUNDLED_EMULATED_CONFIG = shipped("appsettings.emulated.json");
