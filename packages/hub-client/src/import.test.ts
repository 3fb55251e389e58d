import { modulesLoadedByImport } from "@skittlesorter/test-utils";
import { expect, it } from "vitest";

it("does not load the Azure IoT SDK on import (it is loaded by the first connect)", async () => {
  const entries = [new URL("./index.ts", import.meta.url), new URL("./testing.ts", import.meta.url)];
  expect(await modulesLoadedByImport(entries, "azure-iot")).toEqual([]);
});

it("does not load hub-mqtt's mqtt.js on import (it is loaded by hubMqttConnector's first connect)", async () => {
  const entries = [new URL("./index.ts", import.meta.url), new URL("./testing.ts", import.meta.url)];
  expect(await modulesLoadedByImport(entries, "/mqtt/")).toEqual([]);
});
