import type * as v from "valibot";
import type { ConfigProblem } from "../errors.ts";
import { objectShape, schemaAt } from "./schema.ts";

// Schema issues → problems with fixes.

/** Keys whose values are secrets: never echoed in messages. */
const SECRET_KEYS = new Set([
  "enrollmentgroupkeybase64",
  "devicekeybase64",
  "token",
  "deviceconnectionstring",
]);

export type ConfigIssue = v.BaseIssue<unknown>;

/**
 * The key paths an issue is about: the value's, or for an unknown key every unknown key of that object (valibot
 * names only the first, and one run should list them all).
 */
export function issuePaths(issue: ConfigIssue): PropertyKey[][] {
  const unknown = unknownKeys(issue);
  return unknown === undefined ? [keyPath(issue)] : unknown.keys.map((key) => [...unknown.objectPath, key]);
}

export function problemsFromIssue(issue: ConfigIssue): ConfigProblem[] {
  const unknown = unknownKeys(issue);
  if (unknown !== undefined) {
    return unknown.keys.map((key) => {
      const suggestion = closest(key, unknown.known);
      return {
        path: [...unknown.objectPath, key].map(String).join("."),
        message: "is not a known key.",
        fix:
          suggestion === undefined
            ? `remove it (known keys here: ${unknown.known.join(", ")}), or prefix it with "_" to keep it as a comment.`
            : `did you mean "${suggestion}"? Rename it, or prefix it with "_" to keep it as a comment.`,
      };
    });
  }
  const keys = keyPath(issue).map(String);
  const path = keys.join(".") || "(file)";
  const secret = SECRET_KEYS.has((keys.at(-1) ?? "").toLowerCase());
  const message = issue.message.endsWith(".") ? issue.message : `${issue.message}.`;
  return [
    {
      path,
      message: secret ? message.replace(/"[^"]*"/g, "(value hidden)") : message,
      fix: FIXES[path] ?? "see the configuration keys table in apps/sorter/README.md.",
    },
  ];
}

const keyPath = (issue: ConfigIssue): PropertyKey[] =>
  (issue.path ?? []).map((item) => item.key as PropertyKey);

/** For an unknown-key issue: the object's path, its keys the schema does not know, and those it knows. */
function unknownKeys(
  issue: ConfigIssue,
): { objectPath: PropertyKey[]; keys: string[]; known: string[] } | undefined {
  const last = issue.path?.at(-1);
  if (issue.type !== "strict_object" || issue.expected !== "never" || last?.origin !== "key")
    return undefined;
  const objectPath = keyPath(issue).slice(0, -1);
  const known = Object.keys(objectShape(schemaAt(objectPath)) ?? {});
  const keys = Object.keys(last.input as object).filter((key) => !known.includes(key));
  return { objectPath, keys, known };
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(key.length / 3))
    ? best.candidate
    : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

const FIXES: Record<string, string> = {
  "IoTHub.DpsProvisioning.AttestationMethod":
    'use "SymmetricKey" (enrollment group key) or "X509" (onboarding certificate).',
  "IoTHub.DpsProvisioning.MqttPort": "use 8883.",
  "IoTHub.SendTelemetry": "use true or false.",
  "Hardware.ServoDriver": 'use "pca9685" for a servo HAT or "sysfs" for the Pi\'s hardware PWM on GPIO12/13.',
  "Sensor.Gain": "use 16 (the original's), or 4 if bright skittles saturate.",
  "Outbox.WhenFull": 'use "drop-oldest" (keep the newest telemetry) or "reject-new".',
  "MockMode.MockColorSequence": 'use an array such as ["Red", "Green", "Yellow"].',
};
