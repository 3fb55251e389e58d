// Bulk enrollment operations: `POST /enrollments` (or /enrollmentGroups) with `{mode, enrollments}`, answered
// `{isSuccessful, errors: [{registrationId | enrollmentGroupId, errorCode, errorStatus}]}`.
import type { RouteResponse } from "../../net/http.ts";
import type { EnrollmentKind } from "../../state/model.ts";
import { DpsRestError, dpsErrorResponse } from "./errors.ts";
import type { DpsServiceApi } from "./routes.ts";
import { specFromWire } from "./wire.ts";

const MODES = ["create", "update", "updateIfMatchETag", "delete"] as const;
type Mode = (typeof MODES)[number];
/** DPS takes at most this many enrollments per bulk operation (REST spec). */
export const MAX_BULK_ENROLLMENTS = 10;

async function apply(
  api: DpsServiceApi,
  kind: EnrollmentKind,
  mode: Mode,
  item: unknown,
  id: string,
): Promise<void> {
  const etag = (item as { etag?: unknown }).etag;
  const ifMatch = typeof etag === "string" ? etag.replace(/^"(.*)"$/, "$1") : undefined;
  if (mode === "delete") {
    await api.enrollments.delete(kind, id, ifMatch === undefined ? {} : { ifMatch });
    return;
  }
  if (mode === "create") {
    await api.put(kind, id, item, { ifNoneMatch: "*" });
    return;
  }
  await api.put(kind, id, item, mode === "updateIfMatchETag" ? { ifMatch: ifMatch ?? "" } : {});
}

export async function bulkOperation(
  api: DpsServiceApi,
  kind: EnrollmentKind,
  body: unknown,
): Promise<RouteResponse> {
  const { mode, enrollments } = (body ?? {}) as { mode?: unknown; enrollments?: unknown };
  if (typeof mode !== "string" || !MODES.includes(mode as Mode)) {
    throw new DpsRestError(400, `"mode" must be one of ${MODES.join(", ")}.`);
  }
  if (!Array.isArray(enrollments) || enrollments.length === 0 || enrollments.length > MAX_BULK_ENROLLMENTS) {
    throw new DpsRestError(
      400,
      `"enrollments" must be an array of 1 to ${MAX_BULK_ENROLLMENTS} enrollments.`,
    );
  }
  const idKey = kind === "group" ? "enrollmentGroupId" : "registrationId";
  const errors: Record<string, unknown>[] = [];
  for (const item of enrollments) {
    const id = (item as Record<string, unknown> | null)?.[idKey];
    try {
      if (typeof id !== "string" || id === "")
        throw new DpsRestError(400, `Every enrollment needs "${idKey}".`);
      specFromWire(kind, item);
      await apply(api, kind, mode as Mode, item, id.toLowerCase());
    } catch (error) {
      const answer = dpsErrorResponse(error, api.nowIso());
      if (answer === undefined) throw error;
      const detail = answer.body as { errorCode: number; info: { explanation: string } };
      errors.push({
        [idKey]: typeof id === "string" ? id : "",
        errorCode: detail.errorCode,
        errorStatus: detail.info.explanation,
      });
    }
  }
  return { body: { isSuccessful: errors.length === 0, errors } };
}
