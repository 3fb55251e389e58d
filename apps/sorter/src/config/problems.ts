import type { z } from "zod";
import type { ConfigProblem } from "../errors.ts";
import { objectShape, schemaAt } from "./schema.ts";

// Zod issues → problems with fixes.

/** Keys whose values are secrets: never echoed in messages. */
const SECRET_KEYS = new Set([
  "enrollmentgroupkeybase64",
  "devicekeybase64",
  "token",
  "deviceconnectionstring",
]);

export function problemsFromIssue(issue: z.core.$ZodIssue): ConfigProblem[] {
  const path = issue.path.map(String).join(".") || "(file)";
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => {
      const full = path === "(file)" ? key : `${path}.${key}`;
      const known = Object.keys(objectShape(schemaAt(issue.path)) ?? {});
      const suggestion = closest(key, known);
      return {
        path: full,
        message: "is not a known key.",
        fix:
          suggestion === undefined
            ? `remove it (known keys here: ${known.join(", ")}), or prefix it with "_" to keep it as a comment.`
            : `did you mean "${suggestion}"? Rename it, or prefix it with "_" to keep it as a comment.`,
      };
    });
  }
  const last = String(issue.path.at(-1) ?? "").toLowerCase();
  const secret = SECRET_KEYS.has(last);
  const message = issue.message.endsWith(".") ? issue.message : `${issue.message}.`;
  return [
    {
      path,
      message: secret ? message.replace(/"[^"]*"/g, "(value hidden)") : message,
      fix: FIXES[path] ?? "see the configuration keys table in apps/sorter/README.md.",
    },
  ];
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
