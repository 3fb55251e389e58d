import type { StoredTelemetry } from "./model.ts";

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
