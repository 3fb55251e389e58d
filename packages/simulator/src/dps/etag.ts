import { randomUUID } from "node:crypto";

/** A fresh etag: opaque, changes on every write. */
export function newEtag(): string {
  return Buffer.from(JSON.stringify(randomUUID())).toString("base64");
}
