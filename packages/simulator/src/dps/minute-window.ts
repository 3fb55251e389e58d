import { MINUTE_MS } from "./protocol.ts";

/**
 * Times (epoch ms) of the events of the last minute, oldest first. Expired times are dropped from the front, so
 * counting costs what expired since the last count, not a copy of the whole minute per event (at hundreds of
 * registrations a second, a minute holds tens of thousands).
 */
export class MinuteWindow {
  #times: number[] = [];
  #start = 0;

  /** How many events are less than a minute old at `now`. */
  count(now: number): number {
    const cutoff = now - MINUTE_MS;
    while (this.#start < this.#times.length && (this.#times[this.#start] ?? cutoff) <= cutoff) this.#start++;
    if (this.#start >= 1024 && this.#start * 2 >= this.#times.length) {
      this.#times = this.#times.slice(this.#start);
      this.#start = 0;
    }
    return this.#times.length - this.#start;
  }

  /** The oldest event still counted (call {@link count} first). */
  oldest(): number | undefined {
    return this.#times[this.#start];
  }

  add(at: number): void {
    this.#times.push(at);
  }
}
