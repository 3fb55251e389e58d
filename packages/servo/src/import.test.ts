import { modulesLoadedByImport } from "@skittlesorter/test-utils";
import { expect, it } from "vitest";

it("imports on a machine without I2C, without loading the i2c-bus native module", async () => {
  const entries = [
    new URL("./index.ts", import.meta.url),
    new URL("./emulator.ts", import.meta.url),
    new URL("./testing.ts", import.meta.url),
  ];
  expect(await modulesLoadedByImport(entries, "i2c-bus")).toEqual([]);
});
