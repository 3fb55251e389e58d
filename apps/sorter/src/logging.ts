import type { LogFields, Logger } from "@skittlesorter/core";

export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field names whose values are never printed. */
const SECRET_FIELD = /key|secret|password|token|sas|signature|pem|credential/i;
/** Masks values that look like secrets even under innocent field names. */
export function redact(text: string): string {
  return text
    .replace(
      /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
      "[redacted private key]",
    )
    .replace(/SharedAccessSignature [^\s"]+/g, "SharedAccessSignature [redacted]")
    .replace(/([?&]sig=)[^&\s"]+/g, "$1[redacted]");
}

function sanitize(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [name, value] of Object.entries(fields)) {
    if (SECRET_FIELD.test(name) && !/^(keyType|sha256Thumbprint|thumbprint)$/i.test(name))
      out[name] = "[redacted]";
    else if (value instanceof Date) out[name] = value.toISOString();
    else if (typeof value === "string") out[name] = redact(value);
    else out[name] = value;
  }
  return out;
}

export interface ConsoleLoggerOptions {
  level?: LogLevel | undefined;
  /** Where lines go. Default: process.stderr. */
  write?: ((line: string) => void) | undefined;
  /** One JSON object per line instead of text. */
  json?: boolean | undefined;
  now?: (() => Date) | undefined;
}

/** A line-per-event logger for the app; masks secret-looking fields and values. */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const threshold = ORDER[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? (() => new Date());
  const log =
    (level: LogLevel) =>
    (message: string, fields?: LogFields): void => {
      if (ORDER[level] < threshold) return;
      const clean = fields === undefined ? {} : sanitize(fields);
      const text = redact(message);
      if (options.json === true) {
        write(JSON.stringify({ time: now().toISOString(), level, message: text, ...clean }));
        return;
      }
      const extra = Object.keys(clean).length === 0 ? "" : ` ${JSON.stringify(clean)}`;
      write(`${now().toISOString()} ${level.toUpperCase().padEnd(5)} ${text}${extra}`);
    };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}
