import { describe, expect, it, vi } from "vitest";
import { delay, isSkittleError, noopLogger, SkittleError, systemClock } from "./index.ts";

class DemoError extends SkittleError<"DEMO_BROKEN" | "DEMO_LOST"> {}

describe("SkittleError", () => {
  it("carries code, name and cause", () => {
    const cause = new Error("root");
    const error = new DemoError("DEMO_BROKEN", "it broke", { cause });
    expect(error.code).toBe("DEMO_BROKEN");
    expect(error.name).toBe("DemoError");
    expect(error.cause).toBe(cause);
    expect(error).toBeInstanceOf(Error);
  });

  it("is recognised by the guard, also across package copies", () => {
    expect(isSkittleError(new DemoError("DEMO_LOST", "x"))).toBe(true);
    const foreign = Object.assign(new Error("x"), { code: "OTHER" });
    expect(isSkittleError(foreign)).toBe(true);
    expect(isSkittleError(new Error("plain"))).toBe(false);
    expect(isSkittleError("DEMO_LOST")).toBe(false);
  });
});

describe("delay", () => {
  it("resolves after the given time on the injected clock", async () => {
    vi.useFakeTimers();
    try {
      let done = false;
      const pending = delay(1000, { clock: systemClock }).then(() => {
        done = true;
      });
      await vi.advanceTimersByTimeAsync(999);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await pending;
      expect(done).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it("rejects with the signal's reason and cancels its timer", async () => {
    const controller = new AbortController();
    const clearSpy = vi.spyOn(globalThis, "clearTimeout");
    const pending = delay(60_000, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
    expect(clearSpy).toHaveBeenCalledTimes(1);
  });

  it("removes the abort listener once it resolves", async () => {
    const controller = new AbortController();
    const removeSpy = vi.spyOn(controller.signal, "removeEventListener");
    await delay(1, { signal: controller.signal });
    expect(removeSpy).toHaveBeenCalledTimes(1);
  });

  it("rejects at once when the signal is already aborted", async () => {
    await expect(delay(10, { signal: AbortSignal.abort(new Error("early")) })).rejects.toThrow("early");
  });
});

describe("noopLogger", () => {
  it("accepts every level without output", () => {
    expect(() => {
      noopLogger.debug("d", { a: 1 });
      noopLogger.info("i");
      noopLogger.warn("w");
      noopLogger.error("e");
    }).not.toThrow();
  });
});
