import { describe, expect, it, vi } from "vitest";
import {
  checkDurationMs,
  delay,
  errorGuard,
  isSkittleError,
  MAX_TIMER_MS,
  mergePatch,
  noopLogger,
  ServiceError,
  SkittleError,
  systemClock,
  UNTRUSTED_CERTIFICATE_CODES,
} from "./index.ts";

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

  it("leaves an undefined cause absent, as if none was given", () => {
    const error = new DemoError("DEMO_LOST", "gone", { cause: undefined });
    expect(Object.hasOwn(error, "cause")).toBe(false);
    expect(Object.hasOwn(new DemoError("DEMO_LOST", "gone", { cause: null }), "cause")).toBe(true);
  });

  it("is recognised by the guard, also across package copies", () => {
    expect(isSkittleError(new DemoError("DEMO_LOST", "x"))).toBe(true);
    expect(isSkittleError(new Error("plain"))).toBe(false);
    expect(isSkittleError("DEMO_LOST")).toBe(false);
  });

  it("is not fooled by Node's own coded errors", () => {
    const enoent = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
    const esm = Object.assign(new Error("Cannot find module"), { code: "ERR_MODULE_NOT_FOUND" });
    expect(isSkittleError(enoent)).toBe(false);
    expect(isSkittleError(esm)).toBe(false);
  });

  it("recognises an error from another copy of the package by its brand", () => {
    const foreign = new Error("from a second copy");
    Object.defineProperty(foreign, Symbol.for("@skittlesorter/core/SkittleError"), { value: true });
    Object.assign(foreign, { code: "DEMO_LOST", name: "DemoError" });
    expect(isSkittleError(foreign)).toBe(true);
    expect(errorGuard("DemoError", "DEMO_")(foreign)).toBe(true);
  });
});

describe("errorGuard", () => {
  const isDemoError = errorGuard<DemoError>("DemoError", ["DEMO_"]);
  class OtherError extends SkittleError<"OTHER_X"> {}

  it("checks the name and the code prefix", () => {
    expect(isDemoError(new DemoError("DEMO_BROKEN", "x"))).toBe(true);
    expect(isDemoError(new OtherError("OTHER_X", "x"))).toBe(false);
    expect(isDemoError(Object.assign(new Error("x"), { name: "DemoError", code: "DEMO_BROKEN" }))).toBe(
      false,
    );
    const misnamed = new DemoError("DEMO_BROKEN", "x");
    misnamed.name = "Renamed";
    expect(isDemoError(misnamed)).toBe(false);
  });
});

describe("mergePatch", () => {
  it("merges objects recursively, removes keys patched to null, replaces arrays", () => {
    const target = { a: 1, nested: { keep: true, drop: 1 }, list: [1, 2] };
    const patch = { a: null, nested: { drop: null, add: "x" }, list: [3], fresh: { deep: 1 } };
    expect(mergePatch(target, patch)).toEqual({
      nested: { keep: true, add: "x" },
      list: [3],
      fresh: { deep: 1 },
    });
  });

  it("mutates neither input", () => {
    const target = { nested: { a: 1 } };
    const patch = { nested: { b: 2 } };
    mergePatch(target, patch);
    expect(target).toEqual({ nested: { a: 1 } });
    expect(patch).toEqual({ nested: { b: 2 } });
  });

  it("replaces a non-object value with an object patch", () => {
    expect(mergePatch({ a: 5 }, { a: { b: 1 } })).toEqual({ a: { b: 1 } });
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

describe("ServiceError", () => {
  class ServiceDemoError extends ServiceError<"DEMO_REJECTED"> {}

  it("carries the service's answer on fields, and stays a SkittleError named after the subclass", () => {
    const cause = new Error("socket");
    const error = new ServiceDemoError("DEMO_REJECTED", "rejected", {
      cause,
      statusCode: 409,
      errorCode: 409004,
      trackingId: "t-1",
      timestampUtc: "2026-01-01T00:00:00Z",
    });
    expect(error).toMatchObject({
      code: "DEMO_REJECTED",
      name: "ServiceDemoError",
      statusCode: 409,
      errorCode: 409004,
      trackingId: "t-1",
      timestampUtc: "2026-01-01T00:00:00Z",
    });
    expect(error.cause).toBe(cause);
    expect(isSkittleError(error)).toBe(true);
  });

  it("leaves absent fields undefined and adds no own cause", () => {
    const error = new ServiceDemoError("DEMO_REJECTED", "rejected");
    expect(error.statusCode).toBeUndefined();
    expect(Object.hasOwn(error, "cause")).toBe(false);
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

describe("UNTRUSTED_CERTIFICATE_CODES", () => {
  it("holds Node's codes for a certificate that does not verify, not those of a refused connection", () => {
    expect(UNTRUSTED_CERTIFICATE_CODES.has("SELF_SIGNED_CERT_IN_CHAIN")).toBe(true);
    expect(UNTRUSTED_CERTIFICATE_CODES.has("ERR_TLS_CERT_ALTNAME_INVALID")).toBe(true);
    expect(UNTRUSTED_CERTIFICATE_CODES.has("ECONNREFUSED")).toBe(false);
  });
});

describe("checkDurationMs", () => {
  const invalid = (message: string): Error => new RangeError(message);

  it("returns a duration within range", () => {
    expect(checkDurationMs("timeoutMs", 0, 0, invalid)).toBe(0);
    expect(checkDurationMs("timeoutMs", MAX_TIMER_MS, 1, invalid)).toBe(MAX_TIMER_MS);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER_MS + 1])(
    "throws the caller's error naming the option for %s",
    (ms) => {
      expect(() => checkDurationMs("timeoutMs", ms, 1, invalid)).toThrow(
        new RangeError(`timeoutMs must be a number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${ms}.`),
      );
    },
  );
});
