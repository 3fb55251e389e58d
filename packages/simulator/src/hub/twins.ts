// Twin rules shared by device and module twins: patch validation, merging with versions, and the MQTT twin
// requests (`$iothub/twin/GET/…`, `$iothub/twin/PATCH/properties/reported/…`) a connection sends.
import { randomUUID } from "node:crypto";
import { mergePatch } from "@skittlesorter/core";
import { isSimulatorError, serviceError } from "../errors.ts";
import { isObject } from "../state/json.ts";
import type { Twin } from "../state/model.ts";

/** Reported or desired properties document, bytes of JSON (IoT Hub's limit). */
export const MAX_TWIN_BYTES = 32 * 1024;

/** Checks a twin patch (an object, no `$` keys, at most 10 levels); throws SIM_INVALID_REQUEST naming the problem. */
export function checkTwinPatch(patch: unknown, what: string): Record<string, unknown> {
  if (!isObject(patch)) {
    throw serviceError(
      "SIM_INVALID_REQUEST",
      "INVALID_BODY",
      `The ${what} patch must be a JSON object of properties.`,
    );
  }
  const bad = (value: Record<string, unknown>, path: string, depth: number): string | undefined => {
    if (depth > 10) return `${path} is nested deeper than 10 levels`;
    for (const [key, child] of Object.entries(value)) {
      if (key.startsWith("$")) return `${path}${key} starts with "$" (reserved for $version and $metadata)`;
      if (isObject(child)) {
        const found = bad(child, `${path}${key}.`, depth + 1);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  const problem = bad(patch, "", 1);
  if (problem !== undefined) {
    throw serviceError("SIM_INVALID_REQUEST", "INVALID_BODY", `The ${what} patch is refused: ${problem}.`);
  }
  return patch;
}

/** A new, empty twin (versions 1). */
export function emptyTwin<T extends { hub: string; deviceId: string }>(ids: T, now: string): Twin & T {
  return {
    ...ids,
    tags: {},
    desired: {},
    desiredVersion: 1,
    desiredUpdated: now,
    reported: {},
    reportedVersion: 1,
    reportedUpdated: now,
    version: 1,
    etag: "AAAAAAAAAAE=", // IoT Hub's first twin etag; stable until the twin is first stored
  };
}

/** `twin` with a JSON merge patch applied to its desired or reported properties, versions and etag moved on. */
export function patchedTwin<T extends Twin>(
  twin: T,
  part: "desired" | "reported",
  patch: Record<string, unknown>,
  now: string,
): T {
  const merged = mergePatch(twin[part], patch);
  if (Buffer.byteLength(JSON.stringify(merged)) > MAX_TWIN_BYTES) {
    throw serviceError(
      "SIM_INVALID_REQUEST",
      "TWIN_TOO_LARGE",
      `The ${part} properties would exceed ${MAX_TWIN_BYTES} bytes of JSON; send less.`,
    );
  }
  const updated: T =
    part === "desired"
      ? { ...twin, desired: merged, desiredVersion: twin.desiredVersion + 1, desiredUpdated: now }
      : { ...twin, reported: merged, reportedVersion: twin.reportedVersion + 1, reportedUpdated: now };
  updated.version = twin.version + 1;
  updated.etag = randomUUID();
  return updated;
}

/** What an MQTT twin request works on: the connection's device or module twin. */
export interface TwinTarget {
  read(): Twin;
  patchReported(patch: Record<string, unknown>): Twin;
}

/**
 * Answers an MQTT twin request: `GET /` (the desired and reported properties) or `PATCH /properties/reported/`.
 * `answer(status, body, extra)` publishes on `$iothub/twin/res/{status}/?$rid=…{extra}`.
 */
export function answerTwinRequest(
  verb: string,
  resource: string,
  payload: Buffer,
  target: TwinTarget,
  answer: (status: number, body: unknown, extra?: string) => void,
): void {
  const path = resource.replace(/\/+$/, "").toLowerCase();
  if (verb === "GET" && path === "") {
    const twin = target.read();
    answer(200, {
      desired: { ...twin.desired, $version: twin.desiredVersion },
      reported: { ...twin.reported, $version: twin.reportedVersion },
    });
    return;
  }
  if (verb === "PATCH" && path === "properties/reported") {
    let patch: Record<string, unknown>;
    try {
      patch = checkTwinPatch(JSON.parse(payload.toString("utf8")), "reported properties");
    } catch (error) {
      const message = isSimulatorError(error) ? error.message : "The reported properties patch is not JSON.";
      answer(400, { errorCode: 400004, message });
      return;
    }
    try {
      const twin = target.patchReported(patch);
      answer(204, undefined, `&$version=${twin.reportedVersion}`);
    } catch (error) {
      answer(400, { errorCode: 400004, message: (error as Error).message });
    }
    return;
  }
  answer(400, {
    errorCode: 400000,
    message: `Unsupported twin operation ${verb} ${resource}; use GET / or PATCH /properties/reported/.`,
  });
}
