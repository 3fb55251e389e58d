import { describe, expect, it, vi } from "vitest";
import { abortable, deferred, linkSignals } from "./index.ts";

describe("abortable", () => {
  it("settles with the promise when no signal aborts, and removes its listeners", async () => {
    const controller = new AbortController();
    const removeSpy = vi.spyOn(controller.signal, "removeEventListener");
    await expect(abortable(Promise.resolve(7), [controller.signal, undefined])).resolves.toBe(7);
    expect(removeSpy).toHaveBeenCalledTimes(1);
    await expect(abortable(Promise.reject(new Error("failed")), [controller.signal])).rejects.toThrow(
      "failed",
    );
    expect(removeSpy).toHaveBeenCalledTimes(2);
  });

  it("rejects with the reason of the first signal to abort and detaches from every signal", async () => {
    const first = new AbortController();
    const second = new AbortController();
    const removeSpy = vi.spyOn(first.signal, "removeEventListener");
    const pending = abortable(new Promise<never>(() => {}), [first.signal, second.signal]);
    second.abort(new Error("second"));
    first.abort(new Error("first"));
    await expect(pending).rejects.toThrow("second");
    expect(removeSpy).toHaveBeenCalledTimes(1);
  });

  it("rejects at once when a signal is already aborted, without an unhandled rejection", async () => {
    const failing = Promise.reject(new Error("ignored"));
    await expect(abortable(failing, [AbortSignal.abort(new Error("early"))])).rejects.toThrow("early");
  });

  it("returns the promise itself when there is no signal", () => {
    const promise = Promise.resolve(1);
    expect(abortable(promise, [undefined])).toBe(promise);
  });
});

describe("linkSignals", () => {
  it("aborts with the reason of the first source to abort", () => {
    const source = new AbortController();
    const linked = linkSignals([undefined, source.signal]);
    expect(linked.signal.aborted).toBe(false);
    source.abort(new Error("gone"));
    expect(linked.signal.reason).toEqual(new Error("gone"));
  });

  it("starts aborted when a source already is", () => {
    const linked = linkSignals([AbortSignal.abort(new Error("early"))]);
    expect(linked.signal.reason).toEqual(new Error("early"));
  });

  it("stays quiet after dispose() and leaves no listener on its sources", () => {
    const source = new AbortController();
    const removeSpy = vi.spyOn(source.signal, "removeEventListener");
    const linked = linkSignals([source.signal]);
    linked.dispose();
    expect(removeSpy).toHaveBeenCalledTimes(1);
    source.abort(new Error("late"));
    expect(linked.signal.aborted).toBe(false);
  });
});

describe("deferred", () => {
  it("resolves and rejects from outside", async () => {
    const ok = deferred<string>();
    ok.resolve("answer");
    await expect(ok.promise).resolves.toBe("answer");
    const failed = deferred<string>();
    failed.reject(new Error("no answer"));
    await expect(failed.promise).rejects.toThrow("no answer");
  });
});
