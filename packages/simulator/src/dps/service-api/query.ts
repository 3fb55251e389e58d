// DPS service queries: `POST …/query` with `{"query": "SELECT *"}`, paged by `x-ms-max-item-count` and
// `x-ms-continuation` (absent on the last page: the SDK reads its presence as "more results").
import type { RouteRequest, RouteResponse } from "../../net/http.ts";
import { DpsRestError } from "./errors.ts";

const DEFAULT_PAGE_SIZE = 100;

function pageSizeOf(request: RouteRequest): number {
  const header = request.headers["x-ms-max-item-count"];
  if (header === undefined) return DEFAULT_PAGE_SIZE;
  const size = Number(header);
  if (!Number.isInteger(size) || size < 1) {
    throw new DpsRestError(
      400,
      `x-ms-max-item-count must be a whole number of at least 1, not ${JSON.stringify(header)}.`,
    );
  }
  return size;
}

function offsetOf(request: RouteRequest): number {
  const token = request.headers["x-ms-continuation"];
  if (typeof token !== "string" || token === "") return 0;
  const offset = Number(Buffer.from(token, "base64url").toString("utf8"));
  if (!Number.isInteger(offset) || offset < 0) {
    throw new DpsRestError(
      400,
      "The x-ms-continuation token is not one this service gave; start the query again.",
    );
  }
  return offset;
}

/** One page of `items` for a query request. Only `SELECT *` is evaluated: every item matches. */
export function queryPage(request: RouteRequest, items: unknown[], itemType: string): RouteResponse {
  const query = (request.body as { query?: unknown } | undefined)?.query;
  if (
    query !== undefined &&
    (typeof query !== "string" || !/^\s*select\s+\*\s*(from\s+\w+\s*)?$/i.test(query))
  ) {
    throw new DpsRestError(400, 'Only the query "SELECT *" is supported by the simulator.');
  }
  const size = pageSizeOf(request);
  const offset = offsetOf(request);
  const page = items.slice(offset, offset + size);
  const headers: Record<string, string> = { "x-ms-item-type": itemType };
  if (offset + size < items.length) {
    headers["x-ms-continuation"] = Buffer.from(String(offset + size)).toString("base64url");
  }
  return { body: page, headers };
}
