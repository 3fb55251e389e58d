import { validateRegistrationId } from "@skittlesorter/attestation";
import { usageError } from "@skittlesorter/cli-shell";

/** The `--registration-id` option's value as DPS accepts it, or a usage error saying what is wrong with it. */
export function checkedRegistrationId(value: string): string {
  try {
    return validateRegistrationId(value);
  } catch (error) {
    throw usageError(`--registration-id: ${error instanceof Error ? error.message : String(error)}`);
  }
}
