// DPS service REST errors: `{errorCode, trackingId, message, timestampUtc, info}` with DPS's numeric codes
// (HTTP status × 1000 + a detail), short messages as Azure sends them, the explanation in `info`.
import { randomUUID } from "node:crypto";
import { httpAnswerOf, type RouteResponse } from "../../net/http.ts";

/** The numeric `errorCode` of each status (the detail digits are this simulator's best reading of DPS's). */
const CODES: Record<number, { errorCode: number; message: string }> = {
  400: { errorCode: 400004, message: "Bad request" },
  401: { errorCode: 401002, message: "Unauthorized" },
  404: { errorCode: 404201, message: "Not found" },
  405: { errorCode: 405000, message: "Method not allowed" },
  409: { errorCode: 409201, message: "Conflict" },
  412: { errorCode: 412002, message: "Precondition failed" },
  415: { errorCode: 415000, message: "Unsupported media type" },
  428: { errorCode: 428000, message: "Precondition required" },
  429: { errorCode: 429001, message: "Too many requests" },
  500: { errorCode: 500000, message: "Internal server error" },
};

export class DpsRestError extends Error {
  override readonly name = "DpsRestError";
  readonly status: number;
  /** What went wrong and how to fix it (answered in `info.explanation`). */
  readonly explanation: string;

  constructor(status: number, explanation: string) {
    super(CODES[status]?.message ?? "Error");
    this.status = status;
    this.explanation = explanation;
  }

  static unauthorized(explanation: string): DpsRestError {
    return new DpsRestError(401, explanation);
  }
}

/** The DPS error answer for anything a service REST handler threw; undefined for an unexpected error. */
export function dpsErrorResponse(error: unknown, nowIso: string): RouteResponse | undefined {
  let status: number;
  let explanation: string;
  let reason: string | undefined;
  if (error instanceof DpsRestError) {
    status = error.status;
    explanation = error.explanation;
  } else {
    const answer = httpAnswerOf(error);
    if (answer === undefined) return undefined;
    status = answer.status;
    explanation = answer.message;
    reason = answer.code;
  }
  const known = CODES[status] ?? { errorCode: status * 1000, message: "Error" };
  return {
    status,
    body: {
      errorCode: known.errorCode,
      trackingId: randomUUID(),
      message: known.message,
      timestampUtc: nowIso,
      info: { explanation, ...(reason === undefined ? {} : { reason }) },
    },
  };
}
