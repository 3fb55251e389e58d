/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Never edit a shipped
 * entry: append a new one. Entities whose shape grows are kept as JSON documents beside their keys.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE hubs (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
  CREATE TABLE enrollments (
    kind TEXT NOT NULL CHECK (kind IN ('group', 'individual')),
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
  );
  CREATE TABLE ca_certificates (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, doc TEXT NOT NULL);
  CREATE TABLE registrations (registration_id TEXT PRIMARY KEY, updated_at TEXT NOT NULL, doc TEXT NOT NULL);
  CREATE TABLE operations (
    operation_id TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX operations_created ON operations (created_at);
  CREATE TABLE devices (hub TEXT NOT NULL, device_id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (hub, device_id));
  CREATE TABLE issued_certificates (
    serial_number TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX issued_by_registration ON issued_certificates (registration_id);
  CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL
  );
  CREATE TABLE adr_policies (namespace TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (namespace, name));
  `,
  // Part 2: IoT Hub telemetry and twins, ADR device records.
  `
  CREATE TABLE telemetry (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hub TEXT NOT NULL,
    device_id TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL,
    color TEXT,
    doc TEXT NOT NULL,
    body BLOB NOT NULL
  );
  CREATE INDEX telemetry_device ON telemetry (device_id, id);
  CREATE INDEX telemetry_time ON telemetry (enqueued_at);
  CREATE TABLE twins (hub TEXT NOT NULL, device_id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (hub, device_id));
  CREATE TABLE adr_devices (namespace TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (namespace, name));
  `,
  // The simulator emulates Azure, not the sorter: telemetry is no longer read for a skittle colour (the dashboard
  // counts messages by any property instead), so the column goes.
  `
  ALTER TABLE telemetry DROP COLUMN color;
  `,
  // IoT Hub: persistent MQTT sessions (clean: false) survive restarts; cloud-to-device queues; module identities.
  `
  CREATE TABLE hub_sessions (client_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
  CREATE TABLE c2d_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hub TEXT NOT NULL,
    device_id TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX c2d_device ON c2d_messages (device_id, id);
  CREATE TABLE modules (
    hub TEXT NOT NULL,
    device_id TEXT NOT NULL,
    module_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    twin TEXT,
    PRIMARY KEY (hub, device_id, module_id)
  );
  `,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
