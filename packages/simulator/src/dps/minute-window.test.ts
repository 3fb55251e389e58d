import { describe, expect, it } from "vitest";
import { MinuteWindow } from "./minute-window.ts";
import { MINUTE_MS } from "./protocol.ts";

describe("MinuteWindow", () => {
  it("counts the events of the last minute and names the oldest", () => {
    const window = new MinuteWindow();
    expect(window.count(0)).toBe(0);
    window.add(1_000);
    window.add(2_000);
    window.add(2_000);
    expect(window.count(2_000)).toBe(3);
    expect(window.oldest()).toBe(1_000);
    expect(window.count(1_000 + MINUTE_MS)).toBe(2);
    expect(window.oldest()).toBe(2_000);
    expect(window.count(2_000 + MINUTE_MS)).toBe(0);
    expect(window.oldest()).toBeUndefined();
  });

  it("keeps counting right across many events (expired ones are compacted away)", () => {
    const window = new MinuteWindow();
    for (let at = 0; at < 5 * MINUTE_MS; at += 10) {
      window.add(at);
      expect(window.count(at)).toBe(Math.min(at / 10 + 1, MINUTE_MS / 10));
    }
    expect(window.oldest()).toBe(5 * MINUTE_MS - MINUTE_MS);
  });
});
