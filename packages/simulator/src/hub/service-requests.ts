// What the service side asks of the hub (twin patches and replacements, direct method calls), read from a request
// body once for both the IoT Hub service API and the admin API.
import { isDeepStrictEqual } from "node:util";
import { serviceError } from "../errors.ts";
import { isObject } from "../state/json.ts";
import type { Twin } from "../state/model.ts";
import { HUB_LIMITS } from "./service.ts";

/** A service-side twin change: JSON merge patches of desired properties and tags (`null` deletes). */
export interface TwinChange {
  desired?: Record<string, unknown> | undefined;
  tags?: Record<string, unknown> | undefined;
}

export interface MethodRequest {
  methodName: string;
  payload: unknown;
  responseTimeoutMs: number;
  connectTimeoutMs: number;
}

const bad = (message: string) => serviceError("SIM_INVALID_REQUEST", "INVALID_BODY", message);

/** Reads `{"properties": {"desired": {…}}, "tags": {…}}`; the twin's read-only members (etag, version, …) are ignored. */
export function parseTwinPatch(body: unknown): TwinChange {
  if (!isObject(body)) {
    throw bad('Send {"properties": {"desired": {…}}} and/or {"tags": {…}} (JSON merge patch: null deletes).');
  }
  const { properties, tags } = body;
  if (properties !== undefined && properties !== null) {
    if (!isObject(properties) || Object.keys(properties).some((key) => key !== "desired")) {
      throw bad(
        'Only "properties.desired" can be changed from the service side; reported properties come from the device.',
      );
    }
  }
  const desired = isObject(properties) ? properties.desired : undefined;
  if (desired !== undefined && !isObject(desired)) throw bad('"properties.desired" must be a JSON object.');
  if (tags !== undefined && tags !== null && !isObject(tags)) throw bad('"tags" must be a JSON object.');
  const change: TwinChange = {};
  if (desired !== undefined) change.desired = desired;
  if (isObject(tags)) change.tags = tags;
  if (change.desired === undefined && change.tags === undefined) {
    throw bad('Nothing to change: send {"properties": {"desired": {…}}} and/or {"tags": {…}}.');
  }
  return change;
}

/** The merge patch that turns `from` into `to`: removed members become `null`, objects are compared member-wise. */
function mergePatchBetween(
  from: Record<string, unknown>,
  to: Record<string, unknown>,
): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    const before = from[key];
    if (isObject(before) && isObject(value)) {
      const inner = mergePatchBetween(before, value);
      if (Object.keys(inner).length > 0) patch[key] = inner;
    } else if (!isDeepStrictEqual(before, value)) {
      patch[key] = value;
    }
  }
  return patch;
}

/** `$metadata` and `$version` as a twin GET answers them; a replacement may carry them back. */
function withoutTwinMetadata(desired: Record<string, unknown>): Record<string, unknown> {
  const { $metadata: _metadata, $version: _version, ...rest } = desired;
  return rest;
}

/**
 * A twin replacement (`PUT /twins/{id}`: the new tags and desired properties, absent = empty) as the change to
 * apply to `current`: devices then receive only what changed, as a desired-properties patch.
 */
export function twinReplacement(current: Twin, body: unknown): TwinChange {
  if (!isObject(body)) throw bad('Send the twin: {"tags": {…}, "properties": {"desired": {…}}}.');
  const { properties, tags = {} } = body;
  if (properties !== undefined && !isObject(properties)) throw bad('"properties" must be a JSON object.');
  const desired = properties?.desired ?? {};
  if (!isObject(desired)) throw bad('"properties.desired" must be a JSON object.');
  if (!isObject(tags)) throw bad('"tags" must be a JSON object.');
  const desiredPatch = mergePatchBetween(current.desired, withoutTwinMetadata(desired));
  const tagsPatch = mergePatchBetween(current.tags, tags);
  const change: TwinChange = {};
  if (Object.keys(desiredPatch).length > 0) change.desired = desiredPatch;
  if (Object.keys(tagsPatch).length > 0) change.tags = tagsPatch;
  return change;
}

function seconds(value: unknown, name: string, min: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const max = HUB_LIMITS.maxMethodTimeoutSeconds;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw bad(`"${name}" must be a whole number of seconds from ${min} to ${max}.`);
  }
  return value;
}

/** Reads `{methodName, payload?, responseTimeoutInSeconds? (5-300, default 30), connectTimeoutInSeconds? (0-300)}`. */
export function parseMethodRequest(body: unknown): MethodRequest {
  if (!isObject(body)) {
    throw bad(
      'Send {"methodName": "…", "payload"?: any JSON, "responseTimeoutInSeconds"?: 5-300, "connectTimeoutInSeconds"?: 0-300}.',
    );
  }
  const { methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds } = body;
  if (typeof methodName !== "string" || !/^[^/#+?\s]{1,100}$/.test(methodName)) {
    throw bad('"methodName" must be 1-100 characters without "/", "#", "+", "?" or spaces.');
  }
  if (Buffer.byteLength(JSON.stringify(payload ?? null)) > HUB_LIMITS.maxMethodPayloadBytes) {
    throw bad(`"payload" is over ${HUB_LIMITS.maxMethodPayloadBytes} bytes of JSON.`);
  }
  return {
    methodName,
    payload,
    responseTimeoutMs:
      seconds(
        responseTimeoutInSeconds,
        "responseTimeoutInSeconds",
        HUB_LIMITS.minMethodTimeoutSeconds,
        HUB_LIMITS.defaultMethodTimeoutSeconds,
      ) * 1000,
    connectTimeoutMs: seconds(connectTimeoutInSeconds, "connectTimeoutInSeconds", 0, 0) * 1000,
  };
}
