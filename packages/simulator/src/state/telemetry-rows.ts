import type { StoredTelemetry, TelemetryQuery } from "./model.ts";

export interface TelemetryRow {
  id: number;
  hub: string;
  device_id: string;
  enqueued_at: number;
  doc: string;
  body: Buffer;
}

export function telemetryFromRow(row: TelemetryRow): StoredTelemetry {
  const doc = JSON.parse(row.doc) as Omit<StoredTelemetry, "id" | "hub" | "deviceId" | "enqueuedAt" | "body">;
  const message: StoredTelemetry = {
    ...doc,
    id: row.id,
    hub: row.hub,
    deviceId: row.device_id,
    enqueuedAt: row.enqueued_at,
    body: row.body,
  };
  return message;
}

/** The WHERE conditions (joined with AND) and their parameters of a telemetry query. */
export function telemetryFilter(query: TelemetryQuery): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const conditions: [string, unknown][] = [
    ["device_id = ?", query.deviceId],
    ["enqueued_at >= ?", query.fromMs],
    ["enqueued_at <= ?", query.toMs],
    ["id > ?", query.afterId],
  ];
  for (const [condition, value] of conditions) {
    if (value === undefined) continue;
    where.push(condition);
    params.push(value);
  }
  return { where, params };
}
