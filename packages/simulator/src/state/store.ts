import { chmodSync, closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { SimulatorError } from "../errors.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
import type {
  AdrDeviceRecord,
  AdrPolicy,
  AuditEvent,
  CaCertificate,
  Enrollment,
  EnrollmentKind,
  HubDevice,
  IssuedCertificate,
  LinkedHub,
  Operation,
  Registration,
  StoredTelemetry,
  TelemetryQuery,
  Twin,
} from "./model.ts";
import { type TelemetryRow, telemetryFilter, telemetryFromRow } from "./telemetry-rows.ts";

/** The path that keeps a database in memory. */
export const IN_MEMORY = ":memory:";

type Row = { doc: string };

/** The simulator's state in one SQLite file (WAL mode). Synchronous, like better-sqlite3. */
export class Store {
  readonly #db: Database.Database;
  /** Prepared once per SQL text: preparing is most of the cost of a small statement. */
  readonly #statements = new Map<string, Database.Statement>();
  #closed = false;
  readonly #eventListeners = new Set<(event: AuditEvent) => void>();
  /** One transaction wrapper for every call: better-sqlite3 builds four wrappers per `db.transaction(fn)`. */
  readonly #inTransaction: (fn: () => unknown) => unknown;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#inTransaction = db.transaction((fn: () => unknown) => fn());
  }

  /**
   * Opens (creating if needed) the database at `path` and migrates it to {@link SCHEMA_VERSION}. `":memory:"` keeps
   * it in memory only: nothing is written to disk.
   */
  static open(path: string): Store {
    let db: Database.Database;
    try {
      if (path === IN_MEMORY) {
        db = new Database(IN_MEMORY);
      } else {
        // The database holds enrollment keys: owner-only, like the key files (WAL/SHM files inherit the mode).
        closeSync(openSync(path, "a", 0o600));
        chmodSync(path, 0o600);
        db = new Database(path);
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL");
      }
      db.pragma("foreign_keys = ON");
      db.pragma("busy_timeout = 5000");
    } catch (error) {
      throw new SimulatorError(
        "SIM_STORE",
        `Cannot open the simulator database ${path}: ${(error as Error).message}. Check the data directory's ` +
          "permissions, and that no other program holds the file.",
        { cause: error },
      );
    }
    const store = new Store(db);
    store.#migrate(path);
    return store;
  }

  #migrate(path: string): void {
    const current = Number(this.#db.pragma("user_version", { simple: true }));
    if (current > MIGRATIONS.length) {
      this.#db.close();
      throw new SimulatorError(
        "SIM_STORE",
        `The database ${path} has schema version ${current}, newer than this simulator's ${MIGRATIONS.length}; ` +
          "upgrade @skittlesorter/simulator or use another --data-dir.",
      );
    }
    const apply = this.#db.transaction(() => {
      for (let version = current; version < MIGRATIONS.length; version++) {
        this.#db.exec(MIGRATIONS[version] ?? "");
        this.#db.pragma(`user_version = ${version + 1}`);
      }
    });
    apply();
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** A prepared statement for tables whose queries live beside their domain code (hub sessions, C2D, modules). */
  prepare(sql: string): Database.Statement {
    return this.#statement(sql);
  }
  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.#inTransaction(fn) as T;
  }

  /** Flushes the WAL into the main file and closes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#db.memory === false) this.#db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      this.#db.close();
    }
  }

  // meta ------------------------------------------------------------------------------------------

  getMeta<T>(key: string): T | undefined {
    const row = this.#statement("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as T);
  }

  setMeta(key: string, value: unknown): void {
    this.#statement(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(key, JSON.stringify(value));
  }

  // hubs ------------------------------------------------------------------------------------------

  listHubs(): LinkedHub[] {
    return this.#docs<LinkedHub>("SELECT doc FROM hubs ORDER BY name");
  }

  getHub(name: string): LinkedHub | undefined {
    return this.#doc<LinkedHub>("SELECT doc FROM hubs WHERE name = ?", name);
  }

  putHub(hub: LinkedHub): void {
    this.#statement(
      "INSERT INTO hubs (name, doc) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
    ).run(hub.name, JSON.stringify(hub));
  }

  deleteHub(name: string): boolean {
    return this.#statement("DELETE FROM hubs WHERE name = ?").run(name).changes > 0;
  }

  // enrollments -----------------------------------------------------------------------------------

  listEnrollments(kind?: EnrollmentKind): Enrollment[] {
    return kind === undefined
      ? this.#docs<Enrollment>("SELECT doc FROM enrollments ORDER BY kind, id")
      : this.#docs<Enrollment>("SELECT doc FROM enrollments WHERE kind = ? ORDER BY id", kind);
  }

  getEnrollment(kind: EnrollmentKind, id: string): Enrollment | undefined {
    return this.#doc<Enrollment>("SELECT doc FROM enrollments WHERE kind = ? AND id = ?", kind, id);
  }

  putEnrollment(enrollment: Enrollment): void {
    this.#statement(
      "INSERT INTO enrollments (kind, id, doc) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc",
    ).run(enrollment.kind, enrollment.id, JSON.stringify(enrollment));
  }

  deleteEnrollment(kind: EnrollmentKind, id: string): boolean {
    return this.#statement("DELETE FROM enrollments WHERE kind = ? AND id = ?").run(kind, id).changes > 0;
  }

  // CA certificates -------------------------------------------------------------------------------

  listCaCertificates(): CaCertificate[] {
    return this.#docs<CaCertificate>("SELECT doc FROM ca_certificates ORDER BY name");
  }

  getCaCertificate(name: string): CaCertificate | undefined {
    return this.#doc<CaCertificate>("SELECT doc FROM ca_certificates WHERE name = ?", name);
  }

  findCaCertificatesBySha256(sha256: string): CaCertificate[] {
    return this.#docs<CaCertificate>("SELECT doc FROM ca_certificates WHERE sha256 = ?", sha256);
  }

  putCaCertificate(certificate: CaCertificate): void {
    this.#statement(
      "INSERT INTO ca_certificates (name, sha256, doc) VALUES (?, ?, ?) " +
        "ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, doc = excluded.doc",
    ).run(certificate.name, certificate.sha256Thumbprint, JSON.stringify(certificate));
  }

  deleteCaCertificate(name: string): boolean {
    return this.#statement("DELETE FROM ca_certificates WHERE name = ?").run(name).changes > 0;
  }

  // registrations ---------------------------------------------------------------------------------

  listRegistrations(): Registration[] {
    return this.#docs<Registration>("SELECT doc FROM registrations ORDER BY registration_id");
  }

  getRegistration(registrationId: string): Registration | undefined {
    return this.#doc<Registration>("SELECT doc FROM registrations WHERE registration_id = ?", registrationId);
  }

  putRegistration(registration: Registration): void {
    this.#statement(
      "INSERT INTO registrations (registration_id, updated_at, doc) VALUES (?, ?, ?) " +
        "ON CONFLICT (registration_id) DO UPDATE SET updated_at = excluded.updated_at, doc = excluded.doc",
    ).run(registration.registrationId, registration.lastUpdatedDateTimeUtc, JSON.stringify(registration));
  }

  deleteRegistration(registrationId: string): boolean {
    return (
      this.#statement("DELETE FROM registrations WHERE registration_id = ?").run(registrationId).changes > 0
    );
  }

  // operations ------------------------------------------------------------------------------------

  getOperation(operationId: string): Operation | undefined {
    return this.#doc<Operation>("SELECT doc FROM operations WHERE operation_id = ?", operationId);
  }

  putOperation(operation: Operation): void {
    this.#statement(
      "INSERT INTO operations (operation_id, registration_id, created_at, doc) VALUES (?, ?, ?, ?)",
    ).run(operation.operationId, operation.registrationId, operation.createdAt, JSON.stringify(operation));
  }

  /** Deletes operations created before `before` (epoch ms); returns how many. */
  pruneOperations(before: number): number {
    return this.#statement("DELETE FROM operations WHERE created_at < ?").run(before).changes;
  }

  // devices ---------------------------------------------------------------------------------------

  listDevices(hub?: string): HubDevice[] {
    return hub === undefined
      ? this.#docs<HubDevice>("SELECT doc FROM devices ORDER BY hub, device_id")
      : this.#docs<HubDevice>("SELECT doc FROM devices WHERE hub = ? ORDER BY device_id", hub);
  }

  getDevice(hub: string, deviceId: string): HubDevice | undefined {
    return this.#doc<HubDevice>("SELECT doc FROM devices WHERE hub = ? AND device_id = ?", hub, deviceId);
  }

  putDevice(device: HubDevice): void {
    this.#statement(
      "INSERT INTO devices (hub, device_id, doc) VALUES (?, ?, ?) " +
        "ON CONFLICT (hub, device_id) DO UPDATE SET doc = excluded.doc",
    ).run(device.hub, device.deviceId, JSON.stringify(device));
  }

  deleteDevice(hub: string, deviceId: string): boolean {
    return (
      this.#statement("DELETE FROM devices WHERE hub = ? AND device_id = ?").run(hub, deviceId).changes > 0
    );
  }

  // issued certificates ---------------------------------------------------------------------------

  addIssuedCertificate(certificate: IssuedCertificate): void {
    this.#statement(
      "INSERT INTO issued_certificates (serial_number, registration_id, created_at, doc) VALUES (?, ?, ?, ?)",
    ).run(
      certificate.serialNumber,
      certificate.registrationId,
      certificate.created,
      JSON.stringify(certificate),
    );
  }

  listIssuedCertificates(registrationId?: string): IssuedCertificate[] {
    return registrationId === undefined
      ? this.#docs<IssuedCertificate>(
          "SELECT doc FROM issued_certificates ORDER BY created_at, serial_number",
        )
      : this.#docs<IssuedCertificate>(
          "SELECT doc FROM issued_certificates WHERE registration_id = ? ORDER BY created_at, serial_number",
          registrationId,
        );
  }

  // audit events ----------------------------------------------------------------------------------

  addEvent(at: string, kind: string, subject: string, details: Record<string, unknown> = {}): void {
    const result = this.#statement(
      "INSERT INTO audit_events (at, kind, subject, details) VALUES (?, ?, ?, ?)",
    ).run(at, kind, subject, JSON.stringify(details));
    if (this.#eventListeners.size === 0) return;
    const event: AuditEvent = { id: Number(result.lastInsertRowid), at, kind, subject, details };
    for (const listener of this.#eventListeners) {
      try {
        listener(event);
      } catch {
        // a listener (e.g. a closed stream) never breaks the write
      }
    }
  }

  /** Calls `listener` after every audit event is written; returns the unsubscribe function. */
  onEvent(listener: (event: AuditEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** The newest `limit` events (oldest first) with `id > afterId`, about `subject`, kind containing one of `kinds`. */
  listEvents(
    options: { limit?: number; afterId?: number; subject?: string | undefined; kinds?: string[] } = {},
  ): AuditEvent[] {
    const limit = Math.max(1, Math.min(options.limit ?? 100, 10_000));
    const { subject, kinds = [] } = options;
    const where = `id > ?${subject === undefined ? "" : " AND subject = ?"}${kinds.length === 0 ? "" : ` AND (${kinds.map(() => "instr(kind, ?) > 0").join(" OR ")})`}`;
    const rows = this.#statement(
      `SELECT id, at, kind, subject, details FROM audit_events WHERE ${where} ORDER BY id DESC LIMIT ?`,
    ).all(options.afterId ?? 0, ...(subject === undefined ? [] : [subject]), ...kinds, limit) as {
      id: number;
      at: string;
      kind: string;
      subject: string;
      details: string;
    }[];
    return rows
      .reverse()
      .map((row) => ({ ...row, details: JSON.parse(row.details) as Record<string, unknown> }));
  }

  // ADR policies ----------------------------------------------------------------------------------

  listPolicies(namespace: string): AdrPolicy[] {
    return this.#docs<AdrPolicy>("SELECT doc FROM adr_policies WHERE namespace = ? ORDER BY name", namespace);
  }

  getPolicy(namespace: string, name: string): AdrPolicy | undefined {
    return this.#doc<AdrPolicy>(
      "SELECT doc FROM adr_policies WHERE namespace = ? AND name = ?",
      namespace,
      name,
    );
  }

  putPolicy(policy: AdrPolicy): void {
    this.#statement(
      "INSERT INTO adr_policies (namespace, name, doc) VALUES (?, ?, ?) " +
        "ON CONFLICT (namespace, name) DO UPDATE SET doc = excluded.doc",
    ).run(policy.namespace, policy.name, JSON.stringify(policy));
  }

  // telemetry -------------------------------------------------------------------------------------

  /** Stores one device-to-cloud message; returns its id. */
  addTelemetry(message: Omit<StoredTelemetry, "id">): number {
    const { body, hub, deviceId, enqueuedAt, ...doc } = message;
    const result = this.#statement(
      "INSERT INTO telemetry (hub, device_id, enqueued_at, doc, body) VALUES (?, ?, ?, ?, ?)",
    ).run(hub, deviceId, enqueuedAt, JSON.stringify(doc), body);
    return Number(result.lastInsertRowid);
  }

  /**
   * Messages matching `query`, oldest first: the newest `limit` of them (or, with `afterId`, the oldest
   * `limit` after that id, for following a stream).
   */
  listTelemetry(query: TelemetryQuery = {}): StoredTelemetry[] {
    const { where, params } = telemetryFilter(query);
    const limit = Math.max(1, Math.min(query.limit ?? 100, 10_000));
    const order = query.afterId === undefined ? "DESC" : "ASC";
    const rows = this.#statement(
      `SELECT id, hub, device_id, enqueued_at, doc, body FROM telemetry ${
        where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`
      } ORDER BY id ${order} LIMIT ?`,
    ).all(...params, limit) as TelemetryRow[];
    if (order === "DESC") rows.reverse();
    return rows.map(telemetryFromRow);
  }

  /**
   * Message counts per device (with the last enqueue time) and, with `groupBy`, per value of that property: read
   * from the JSON body's top-level member of that name, else from the application property of that name.
   */
  telemetrySummary(
    deviceId?: string | undefined,
    groupBy?: string | undefined,
  ): {
    total: number;
    devices: { deviceId: string; count: number; lastEnqueuedAt: number }[];
    groups: { value: string; count: number }[];
  } {
    const filter = deviceId === undefined ? "" : "WHERE device_id = ?";
    const params = deviceId === undefined ? [] : [deviceId];
    const devices = this.#statement(
      `SELECT device_id AS deviceId, COUNT(*) AS count, MAX(enqueued_at) AS lastEnqueuedAt FROM telemetry ${filter} GROUP BY device_id ORDER BY device_id`,
    ).all(...params) as { deviceId: string; count: number; lastEnqueuedAt: number }[];
    const total = devices.reduce((sum, item) => sum + item.count, 0);
    if (groupBy === undefined) return { total, devices, groups: [] };
    // A JSON path of one quoted member: `$."name"` (the name is checked to hold no `"` or `\`).
    const path = `$."${groupBy}"`;
    const groups = this.#statement(
      `SELECT value, COUNT(*) AS count FROM (
         SELECT CAST(COALESCE(
           CASE WHEN json_valid(CAST(body AS TEXT)) THEN json_extract(CAST(body AS TEXT), ?) END,
           json_extract(doc, ?)
         ) AS TEXT) AS value
         FROM telemetry ${filter}
       ) WHERE value IS NOT NULL AND value != '' GROUP BY value ORDER BY count DESC, value LIMIT 100`,
    ).all(path, `$.properties."${groupBy}"`, ...params) as { value: string; count: number }[];
    return { total, devices, groups };
  }

  /** Keeps only the newest `keep` messages; returns how many were deleted. */
  pruneTelemetry(keep: number): number {
    const row = this.#statement("SELECT MAX(id) AS max FROM telemetry").get() as { max: number | null };
    if (row.max === null) return 0;
    return this.#statement("DELETE FROM telemetry WHERE id <= ?").run(row.max - keep).changes;
  }

  // twins -----------------------------------------------------------------------------------------

  getTwin(hub: string, deviceId: string): Twin | undefined {
    return this.#doc<Twin>("SELECT doc FROM twins WHERE hub = ? AND device_id = ?", hub, deviceId);
  }

  putTwin(twin: Twin): void {
    this.#statement(
      "INSERT INTO twins (hub, device_id, doc) VALUES (?, ?, ?) ON CONFLICT (hub, device_id) DO UPDATE SET doc = excluded.doc",
    ).run(twin.hub, twin.deviceId, JSON.stringify(twin));
  }

  deleteTwin(hub: string, deviceId: string): boolean {
    return (
      this.#statement("DELETE FROM twins WHERE hub = ? AND device_id = ?").run(hub, deviceId).changes > 0
    );
  }

  // ADR devices -----------------------------------------------------------------------------------

  /** ADR devices of `namespace` ordered by name; `afterName` and `limit` page through them. */
  listAdrDevices(
    namespace: string,
    options: { afterName?: string | undefined; limit?: number | undefined } = {},
  ): AdrDeviceRecord[] {
    return this.#docs<AdrDeviceRecord>(
      "SELECT doc FROM adr_devices WHERE namespace = ? AND name > ? ORDER BY name LIMIT ?",
      namespace,
      options.afterName ?? "",
      options.limit ?? -1,
    );
  }

  getAdrDevice(namespace: string, name: string): AdrDeviceRecord | undefined {
    return this.#doc<AdrDeviceRecord>(
      "SELECT doc FROM adr_devices WHERE namespace = ? AND name = ?",
      namespace,
      name,
    );
  }

  putAdrDevice(device: AdrDeviceRecord): void {
    this.#statement(
      "INSERT INTO adr_devices (namespace, name, doc) VALUES (?, ?, ?) " +
        "ON CONFLICT (namespace, name) DO UPDATE SET doc = excluded.doc",
    ).run(device.namespace, device.name, JSON.stringify(device));
  }

  deleteAdrDevice(namespace: string, name: string): boolean {
    return (
      this.#statement("DELETE FROM adr_devices WHERE namespace = ? AND name = ?").run(namespace, name)
        .changes > 0
    );
  }

  #docs<T>(sql: string, ...params: unknown[]): T[] {
    return (this.#statement(sql).all(...params) as Row[]).map((row) => JSON.parse(row.doc) as T);
  }

  #doc<T>(sql: string, ...params: unknown[]): T | undefined {
    const row = this.#statement(sql).get(...params) as Row | undefined;
    return row === undefined ? undefined : (JSON.parse(row.doc) as T);
  }
}
