import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/** Where a guided command (e.g. `skittle sensor calibrate`) reads the operator's answers, one line at a time. */
export interface LineInput {
  /** True when the operator types into a terminal that echoes their Enter (prompts then need no line break). */
  readonly terminal: boolean;
  /** The next line without its line break, or undefined at end of input. */
  readLine(): Promise<string | undefined>;
  /** Stops reading. Idempotent. */
  close(): void;
}

/** Lines from a stream (default: `process.stdin`), read only while asked for. */
export function streamLineInput(stream: Readable = process.stdin): LineInput {
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY, terminal: false });
  const iterator = lines[Symbol.asyncIterator]();
  let closed = false;
  return {
    terminal: (stream as { isTTY?: boolean }).isTTY === true,
    async readLine() {
      if (closed) return undefined;
      const next = await iterator.next();
      return next.done === true ? undefined : next.value;
    },
    close() {
      if (closed) return;
      closed = true;
      lines.close();
    },
  };
}
