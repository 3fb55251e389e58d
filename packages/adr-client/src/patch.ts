import { AdrError } from "./errors.ts";
import type { AdrDevicePatch } from "./types.ts";

/** The device fields a PATCH may carry (api-versions 2025-11-01-preview and 2026-03-01-preview). */
export const ADR_UPDATABLE_DEVICE_FIELDS = Object.freeze([
  "enabled",
  "operatingSystemVersion",
  "endpoints",
  "attributes",
  "policy",
  "tags",
] as const);

/** Fields a device answer carries that a PATCH cannot change, with the reason given in the error. */
const NOT_UPDATABLE: Readonly<Record<string, string>> = {
  id: "is read-only",
  name: "is the resource name; it cannot be changed (create a new device instead)",
  type: "is read-only",
  location: "is set when the device is created",
  etag: "is read-only",
  systemData: "is read-only",
  extendedLocation: "is set when the device is created",
  uuid: "is read-only",
  externalDeviceId: "is set when the device is created",
  discoveredDeviceRef: "is set when the device is created",
  manufacturer: "is set when the device is created",
  model: "is set when the device is created",
  operatingSystem: "is set when the device is created",
  status: "is read-only",
  version: "is read-only",
  lastTransitionTime: "is read-only",
  provisioningState: "is read-only",
};

const ALLOWED = ADR_UPDATABLE_DEVICE_FIELDS.join(", ");

/** The ARM PATCH body for `patch`: `{ tags?, properties: { …updatable properties } }`. Throws `ADR_INVALID_PATCH`. */
export function devicePatchBody(patch: AdrDevicePatch): Record<string, unknown> {
  if (!isPlainObject(patch)) {
    throw invalid("patch", `The device patch must be an object of updatable fields (${ALLOWED}).`);
  }
  const properties: Record<string, unknown> = {};
  let tags: Record<string, string> | undefined;
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    switch (field) {
      case "enabled":
        if (typeof value !== "boolean") throw wrongType(field, "true or false", value);
        properties[field] = value;
        break;
      case "operatingSystemVersion":
        if (typeof value !== "string") throw wrongType(field, "a string", value);
        properties[field] = value;
        break;
      case "endpoints":
      case "attributes":
        if (!isPlainObject(value)) throw wrongType(field, "an object", value);
        assertJson(field, value);
        properties[field] = value;
        break;
      case "policy":
        if (
          !isPlainObject(value) ||
          !Object.entries(value).every(([key, v]) => key === "resourceId" && typeof v === "string")
        ) {
          throw wrongType(
            field,
            '{ resourceId: "/subscriptions/…/credentials/default/policies/NAME" }',
            value,
          );
        }
        properties[field] = { ...value };
        break;
      case "tags":
        if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === "string")) {
          throw wrongType(field, "an object of string values", value);
        }
        tags = { ...(value as Record<string, string>) };
        break;
      case "properties":
        throw invalid(
          field,
          `Pass the updatable fields at the top level of the patch, e.g. { attributes: {…}, tags: {…} }, not inside "properties"; updatable fields: ${ALLOWED}.`,
        );
      default: {
        const reason = NOT_UPDATABLE[field];
        throw invalid(
          field,
          reason === undefined
            ? `"${field}" is not a device field a PATCH accepts; updatable fields: ${ALLOWED}.`
            : `"${field}" cannot be changed by a PATCH: it ${reason}; updatable fields: ${ALLOWED}.`,
        );
      }
    }
  }
  if (tags === undefined && Object.keys(properties).length === 0) {
    throw invalid("patch", `The device patch changes nothing; give at least one of ${ALLOWED}.`);
  }
  return {
    tags,
    ...(Object.keys(properties).length === 0 ? {} : { properties }),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function assertJson(field: string, value: unknown): void {
  try {
    JSON.stringify(value);
  } catch (error) {
    throw new AdrError(
      "ADR_INVALID_PATCH",
      `"${field}" must be JSON data (no BigInt values or cycles): ${(error as Error).message}.`,
      { field, cause: error },
    );
  }
}

function wrongType(field: string, expected: string, value: unknown): AdrError {
  const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
  return invalid(field, `"${field}" must be ${expected}, got ${got}.`);
}

function invalid(field: string, message: string): AdrError {
  return new AdrError("ADR_INVALID_PATCH", message, { field });
}
