// Option values shared by `skittle hub send` and `skittle hub twin`: repeatable flags and key=value entries.
import { usageError } from "@skittlesorter/cli-shell";

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function keyValue(flag: string, entry: string): [string, string] {
  const at = entry.indexOf("=");
  if (at <= 0) throw usageError(`${flag} takes key=value, got "${entry}"`);
  return [entry.slice(0, at), entry.slice(at + 1)];
}
