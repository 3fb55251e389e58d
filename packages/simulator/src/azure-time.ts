// Azure writes timestamps with seven fractional digits (.NET ticks); the simulator writes them the same way.

/** `ms` (epoch milliseconds) as Azure writes it: ISO 8601 UTC with 7 fractional digits, `2022-07-05T21:27:16.8120000Z`. */
export function azureTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");
}
