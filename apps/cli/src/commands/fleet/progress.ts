import type { FleetPhase, FleetProgress } from "@skittlesorter/fleet";

const LABELS: Record<FleetPhase, string> = {
  keygen: "keys + CSRs ",
  provision: "provisioning",
  connect: "connecting  ",
  telemetry: "telemetry   ",
};

export interface ProgressBar {
  update(progress: FleetProgress): void;
  /** Clears the bar's line. Idempotent. */
  done(): void;
}

/** One self-rewriting line (`\r`) for a terminal, redrawn at most every `intervalMs`, and always at 100 %. */
export function progressBar(
  write: (text: string) => void,
  options: { width?: number; intervalMs?: number; now?: () => number } = {},
): ProgressBar {
  const width = options.width ?? 30;
  const intervalMs = options.intervalMs ?? 100;
  const now = options.now ?? Date.now;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let phase: FleetPhase | undefined;
  // Telemetry runs in waves (connect, send, connect, send…): each phase's rate counts from its first update.
  const phaseStarted = new Map<FleetPhase, number>();
  const created = now();
  let drawn = false;
  let finished = false;

  return {
    update(progress) {
      if (finished) return;
      const at = now();
      if (!phaseStarted.has(progress.phase))
        phaseStarted.set(progress.phase, phase === undefined ? created : at);
      const switched = progress.phase !== phase;
      phase = progress.phase;
      const complete = progress.done >= progress.total;
      if (!switched && !complete && at - lastDraw < intervalMs) return;
      lastDraw = at;
      const ratio = progress.total === 0 ? 1 : Math.min(1, progress.done / progress.total);
      const filled = Math.round(ratio * width);
      const elapsedSeconds = (at - (phaseStarted.get(progress.phase) ?? created)) / 1000;
      const rate = elapsedSeconds > 0 ? (progress.done / elapsedSeconds).toFixed(1) : "–";
      const line =
        `${LABELS[progress.phase]} [${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
        `${progress.done}/${progress.total} ${Math.floor(ratio * 100)}%  ` +
        `errors ${progress.failed}  ${rate}/s`;
      write(`\r${line}\u001b[K`);
      drawn = true;
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) write("\r\u001b[K");
    },
  };
}
