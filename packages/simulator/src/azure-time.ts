// Azure writes timestamps with seven fractional digits (.NET ticks); the simulator writes them the same way.

/** `ms` (epoch milliseconds) as Azure writes it: ISO 8601 UTC with 7 fractional digits, `2022-07-05T21:27:16.8120000Z`. */
export function azureTimestamp(ms: number): string {
  // toISOString always ends in ".sssZ"; four more zeros make the seven digits (no regex: called per registration).
  return `${new Date(ms).toISOString().slice(0, -1)}0000Z`;
}

/** .NET ticks (100 ns since 0001-01-01) at the Unix epoch. */
const EPOCH_TICKS = 621_355_968_000_000_000n;

/** `ms` (epoch milliseconds) in .NET ticks, as IoT Hub writes generation ids. */
export function azureTicks(ms: number): string {
  return String(BigInt(Math.trunc(ms)) * 10_000n + EPOCH_TICKS);
}
