// Pieces of `pnpm demo` (scripts/demo.ts): the transcript every line goes through (so it can be scanned for
// secrets), the sorter's appsettings.json built from sim.json, the sorter run as a child process, and the
// checks that compare the sorter's summary with what the simulator stored.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { RenewalRecord, SimConfigOnDisk, TelemetryView } from "@skittlesorter/simulator";
import { hubIssuedSerials, RENEW_AFTER_SECONDS, renewalCheck, renewalWindowDays } from "./demo-renewal.ts";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const sorterDir = join(repoRoot, "apps", "sorter");

// ---------------------------------------------------------------------------------------------------------
// Transcript: everything the demo prints, and every log it keeps, passes through here.

export class Transcript {
  readonly #chunks: string[] = [];

  /** Prints a line (and keeps it for the secret scan). */
  print(line = ""): void {
    this.#chunks.push(`${line}\n`);
    process.stdout.write(`${line}\n`);
  }

  /** Prints to stderr (and keeps it). */
  printError(line: string): void {
    this.#chunks.push(`${line}\n`);
    process.stderr.write(`${line}\n`);
  }

  /** Keeps text that was not printed (quiet logs), for the secret scan. */
  keep(text: string): void {
    this.#chunks.push(text);
  }

  get text(): string {
    return this.#chunks.join("");
  }
}

/** Splits streamed text into whole lines (the last partial line is held until more text or `end()`). */
export function lineSplitter(onLine: (line: string) => void): { push(text: string): void; end(): void } {
  let pending = "";
  return {
    push(text) {
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line.replace(/\r$/, ""));
    },
    end() {
      if (pending !== "") onLine(pending);
      pending = "";
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Secrets: what must never appear in the transcript.

export interface Secret {
  what: string;
  value: string;
}

/** The enrollment group keys, the device key derived for `registrationId`, and the ADR bearer token. */
export function simSecrets(sim: SimConfigOnDisk, registrationId: string): Secret[] {
  const secrets: Secret[] = [{ what: "the ADR bearer token", value: sim.adr.token }];
  for (const group of sim.enrollmentGroups) {
    for (const [name, key] of [
      ["primary", group.primaryKey],
      ["secondary", group.secondaryKey],
    ] as const) {
      if (key === undefined) continue;
      secrets.push({ what: `enrollment group ${group.id}'s ${name} key`, value: key });
      secrets.push({
        what: `the device key derived from group ${group.id}'s ${name} key`,
        value: createHmac("sha256", Buffer.from(key, "base64")).update(registrationId).digest("base64"),
      });
    }
  }
  return secrets;
}

/** The base64 body lines of every PEM private key file under `dirs` (keys of the sorter, the CA, the simulator). */
export async function privateKeyLines(dirs: readonly string[]): Promise<Secret[]> {
  const secrets: Secret[] = [];
  const visit = async (dir: string): Promise<void> => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await visit(path);
      } else if (/\.key(\.pem)?$/.test(entry.name)) {
        const text = await readFile(path, "utf8").catch(() => "");
        if (!text.includes("PRIVATE KEY")) continue;
        for (const line of text.split("\n")) {
          if (/^[A-Za-z0-9+/=]{40,}$/.test(line.trim()))
            secrets.push({ what: `a line of the private key ${path}`, value: line.trim() });
        }
      }
    }
  };
  for (const dir of dirs) await visit(dir);
  return secrets;
}

/** Problems found in `text`: known secret values, PEM private keys, unredacted SAS signatures. */
export function findSecrets(text: string, secrets: readonly Secret[]): string[] {
  const found = new Set<string>();
  for (const secret of secrets) {
    if (secret.value.length >= 16 && text.includes(secret.value)) found.add(secret.what);
  }
  if (/PRIVATE KEY/.test(text)) found.add('a PEM private key ("PRIVATE KEY")');
  if (/sig=(?!\[redacted\])[A-Za-z0-9%+/=_-]{8,}/.test(text)) found.add("a SAS signature (sig=…)");
  if (/SharedAccessSignature (?!\[redacted\])\S/.test(text)) found.add("a SAS token");
  return [...found];
}

// ---------------------------------------------------------------------------------------------------------
// The sorter's configuration and run.

export type AttestationKind = "symmetric-key" | "x509";

export interface X509Files {
  cert: string;
  key: string;
  chain: string;
}

/** The sorter's `IoTHub.Client`. */
export type HubClient = "azure-iot-device" | "hub-mqtt";

export interface SorterSetup {
  sim: SimConfigOnDisk;
  attestation: AttestationKind;
  hubClient: HubClient;
  registrationId: string;
  workDir: string;
  skittles: number;
  timeScale: number;
  x509?: X509Files | undefined;
}

/** With hub-mqtt the sorter renews through the hub within the demo (demo-renewal.ts); the other client cannot. */
export const renewsThroughHub = (hubClient: HubClient): boolean => hubClient === "hub-mqtt";

/**
 * apps/sorter/config/appsettings.{sas,x509}.template.json filled in from sim.json: DPS host:port and ID scope,
 * the registration id, the simulator's TLS root, the emulated rig. The enrollment group key is NOT written to
 * the file: it goes to the sorter through `SKITTLE__IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64`.
 */
export async function writeSorterConfig(setup: SorterSetup): Promise<string> {
  const template =
    setup.attestation === "x509" ? "appsettings.x509.template.json" : "appsettings.sas.template.json";
  const settings = JSON.parse(await readFile(join(sorterDir, "config", template), "utf8")) as {
    _comment?: string;
    DataDir: string;
    MockMode: { EnableMockColorSensor: boolean; EnableMockServos: boolean; MockColorSequence?: string[] };
    EmulatedRig: Record<string, unknown>;
    IoTHub: { TwinReportIntervalMs?: number; Client?: string; DpsProvisioning: Record<string, unknown> };
    Certificates: Record<string, unknown>;
  };
  settings._comment = `Written by pnpm demo from ${template} and the simulator's sim.json.`;
  settings.DataDir = join(setup.workDir, "sorter");
  settings.MockMode.EnableMockColorSensor = true;
  settings.MockMode.EnableMockServos = true;
  delete settings.MockMode.MockColorSequence; // random colours from the seed
  settings.EmulatedRig = {
    ...settings.EmulatedRig,
    Skittles: setup.skittles,
    Seed: 7,
    TimeScale: setup.timeScale,
  };
  settings.IoTHub.TwinReportIntervalMs = 2000;
  settings.IoTHub.Client = setup.hubClient;
  const dps = settings.IoTHub.DpsProvisioning;
  dps.ProvisioningHost = setup.sim.dps.endpoint;
  dps.IdScope = setup.sim.idScope;
  dps.RegistrationId = setup.registrationId;
  if (setup.attestation === "x509") {
    if (setup.x509 === undefined)
      throw new Error("X.509 attestation needs the onboarding certificate files.");
    dps.AttestationCertPath = setup.x509.cert;
    dps.AttestationKeyPath = setup.x509.key;
    dps.AttestationCertChainPath = setup.x509.chain;
  } else {
    dps.EnrollmentGroupKeyBase64 = ""; // from the environment
  }
  settings.Certificates.TrustedCaFile = setup.sim.trustedCaFile;
  if (renewsThroughHub(setup.hubClient)) {
    const policy = setup.sim.adr.credentialPolicies.find((p) => p.name === "default");
    if (policy === undefined) throw new Error("The simulator has no credential policy named default.");
    settings.Certificates.RenewalWindowDays = renewalWindowDays(policy.validityDays);
  }
  const file = join(setup.workDir, "appsettings.json");
  await writeFile(file, `${JSON.stringify(settings, null, 2)}\n`);
  return file;
}

export interface SorterRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  summaryFile: string;
}

/**
 * Runs `skittle-sorter run --config … --emulated --skittles N --summary-json …` from source as a child process
 * (the device is its own process, as on a Pi); its stdout and stderr go line by line to `onLine`.
 */
export function runSorter(
  configFile: string,
  options: {
    workDir: string;
    skittles: number;
    env: Record<string, string>;
    timeoutMs: number;
    onLine: (stream: "stdout" | "stderr", line: string) => void;
    /** Aborting asks the sorter to stop gracefully (SIGTERM: it finishes the skittle in hand and flushes). */
    signal?: AbortSignal;
  },
): Promise<SorterRun> {
  const summaryFile = join(options.workDir, "sorter-summary.json");
  const child = spawn(
    process.execPath,
    [
      "--conditions=@skittlesorter/source",
      "--import",
      "tsx",
      join(sorterDir, "src", "cli-main.ts"),
      "run",
      "--config",
      configFile,
      "--emulated",
      "--skittles",
      String(options.skittles),
      "--summary-json",
      summaryFile,
    ],
    {
      cwd: repoRoot,
      env: { ...inheritedEnv(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: a Ctrl-C in the terminal reaches the demo, which stops the sorter once.
      detached: true,
    },
  );
  const onAbort = (): void => {
    child.kill("SIGTERM");
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const out = lineSplitter((line) => options.onLine("stdout", line));
  const err = lineSplitter((line) => options.onLine("stderr", line));
  child.stdout.setEncoding("utf8").on("data", (text: string) => out.push(text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => err.push(text));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
  }, options.timeoutMs);
  return new Promise((resolvePromise, reject) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      reject(error);
    });
    child.on("close", (exitCode, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      out.end();
      err.end();
      resolvePromise({ exitCode, signal, timedOut, summaryFile });
    });
  });
}

/** The environment without `SKITTLE__…` overrides (the demo's configuration is the whole truth). */
function inheritedEnv(): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.toUpperCase().startsWith("SKITTLE__")),
  );
}

/** What `skittle-sorter run --summary-json` writes (the parts the demo reads). */
export interface SorterSummary {
  deviceId?: string;
  assignedHub?: string;
  certificate?: { subject: string; notAfter: string; sha256Thumbprint: string };
  credentialsSource?: "stored" | "provisioned";
  hubClient?: HubClient;
  sorting: { sorted: number; byColor: Record<string, number>; stopReason: string };
  rig?: {
    sorted: number;
    correct: number;
    misplaced: number;
    accuracy: number;
    skittlesPerMinute: number;
    elapsedMs: number;
    bins: Record<string, Record<string, number>>;
  };
  telemetry?: { queued: number; delivered: number; pending: number; dropped: number };
  stopReason: string;
}

// ---------------------------------------------------------------------------------------------------------
// What the simulator stored, and the checks.

export interface Stored {
  telemetry: TelemetryView[];
  summary: {
    total: number;
    devices: { deviceId: string; count: number }[];
    /** Messages per value of the body's `color` (`?groupBy=color`). */
    groups: { value: string; count: number }[];
  };
  device: {
    connectionState: string;
    authMethod: string | null;
    messageCount: number;
    certificate: { subject: string; sha256Thumbprint: string; notAfter: string } | null;
  };
  twin: { properties: { reported: Record<string, unknown> } };
  issued: {
    serialNumber: string;
    registrationId: string;
    subject: string;
    sha256Thumbprint: string;
    notAfter: string;
    keyType: string;
  }[];
  registration: {
    enrollmentKind: string;
    enrollmentId: string;
    attestationType: string;
    status: string;
    issuedCertificateSerial?: string;
    registrationCount: number;
  };
  /** The hub's certificate renewals (`$iothub/credentials`), newest first. */
  renewals: RenewalRecord[];
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url} answered HTTP ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** Reads the device's telemetry, telemetry summary, hub record, twin and issued certificates from the admin API. */
export async function readStored(sim: SimConfigOnDisk, deviceId: string): Promise<Stored> {
  const base = sim.http.url;
  const id = encodeURIComponent(deviceId);
  const [telemetry, summary, device, twin, issued, registration, renewals] = await Promise.all([
    getJson<Stored["telemetry"]>(`${base}/admin/telemetry?device=${id}&limit=10000`),
    getJson<Stored["summary"]>(`${base}/admin/telemetry/summary?device=${id}&groupBy=color`),
    getJson<Stored["device"]>(`${base}/admin/devices/${id}`),
    getJson<Stored["twin"]>(`${base}/admin/devices/${id}/twin`),
    getJson<Stored["issued"]>(`${base}/admin/issued-certificates?registrationId=${id}`),
    getJson<Stored["registration"]>(`${base}/admin/registrations/${id}`),
    getJson<Stored["renewals"]>(`${base}/admin/renewals?device=${id}`),
  ]);
  return { telemetry, summary, device, twin, issued, registration, renewals };
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const thumb = (value: string | undefined): string => (value ?? "").replaceAll(":", "").toLowerCase();

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if ((a[key] ?? 0) !== (b[key] ?? 0)) return false;
  return true;
}

const countsText = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([color, n]) => `${color} ${n}`)
    .join(", ") || "none";

/** Telemetry colour per message, from the stored JSON bodies. */
export function storedColors(telemetry: readonly TelemetryView[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const message of telemetry) {
    const color = (JSON.parse(message.body) as { color?: string }).color ?? "?";
    counts[color] = (counts[color] ?? 0) + 1;
  }
  return counts;
}

/** The rig's bins as colour counts: what physically landed in each colour's bin (`Reject` → `Unknown`). */
function rigColors(bins: Record<string, Record<string, number>>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [bin, items] of Object.entries(bins)) {
    const name = bin === "Reject" ? "Unknown" : bin;
    for (const n of Object.values(items)) counts[name] = (counts[name] ?? 0) + n;
  }
  return counts;
}

export function checkRun(input: {
  attestation: AttestationKind;
  hubClient: HubClient;
  run: SorterRun;
  summary: SorterSummary | undefined;
  stored: Stored | undefined;
  skittles: number;
  registrationId: string;
  sim: SimConfigOnDisk;
}): Check[] {
  const { attestation, hubClient, run, summary, stored, skittles, registrationId, sim } = input;
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, detail: string): void => {
    checks.push({ name, ok, detail });
  };
  add(
    "the sorter exited 0",
    run.exitCode === 0,
    run.timedOut ? "it did not finish in time and was stopped" : `exit code ${run.exitCode ?? run.signal}`,
  );
  if (summary === undefined) {
    add("the sorter wrote its summary", false, `${run.summaryFile} is missing or not JSON`);
    return checks;
  }
  const sorted = summary.sorting.sorted;
  add("it sorted every skittle", sorted === skittles, `${sorted} of ${skittles} (${summary.stopReason})`);
  add(
    "it provisioned through DPS with a CSR",
    summary.credentialsSource === "provisioned" &&
      summary.deviceId === registrationId &&
      summary.assignedHub === sim.hubs[0]?.hostname,
    `device ${summary.deviceId} on ${summary.assignedHub} (${summary.credentialsSource})`,
  );
  add(
    `it talked to IoT Hub through ${hubClient}`,
    summary.hubClient === hubClient,
    `IoTHub.Client ${summary.hubClient ?? "not reported"}`,
  );
  const rig = summary.rig;
  add(
    "accuracy is 100%",
    rig !== undefined && rig.sorted === sorted && rig.correct === rig.sorted && rig.sorted > 0,
    rig === undefined ? "no rig report" : `${rig.correct} of ${rig.sorted} in the right bin`,
  );
  const t = summary.telemetry;
  add(
    "telemetry delivered = sorted",
    t !== undefined && t.queued === sorted && t.delivered === sorted && t.pending === 0 && t.dropped === 0,
    t === undefined
      ? "telemetry off"
      : `${t.queued} sent, ${t.delivered} delivered, ${t.pending} pending, ${t.dropped} dropped`,
  );
  if (stored === undefined) {
    add("the simulator has the device's data", false, "the admin API did not answer");
    return checks;
  }
  const registration = stored.registration;
  // With renewals through the hub, DPS issued the first certificate and the hub the later ones.
  const renewing = renewsThroughHub(hubClient);
  const fromHub = hubIssuedSerials(stored.renewals);
  const fromDps = stored.issued.filter((c) => !fromHub.has(c.serialNumber));
  add(
    `DPS attested it by ${attestation === "x509" ? "its X.509 bootstrap certificate" : "the group's symmetric key"} and issued the ${renewing ? "first " : ""}certificate for its CSR`,
    registration.status === "assigned" &&
      registration.attestationType === (attestation === "x509" ? "x509" : "symmetricKey") &&
      registration.registrationCount === 1 &&
      fromDps.length === 1 &&
      (renewing ||
        (registration.issuedCertificateSerial === fromDps[0]?.serialNumber &&
          thumb(fromDps[0]?.sha256Thumbprint) === thumb(summary.certificate?.sha256Thumbprint))),
    `${registration.enrollmentKind} enrollment ${registration.enrollmentId} (${registration.attestationType}), ` +
      `${registration.status}, certificate serial ${fromDps[0]?.serialNumber ?? "none"}`,
  );
  if (renewing) {
    const check = renewalCheck({
      renewals: stored.renewals,
      issued: stored.issued,
      registrationCount: registration.registrationCount,
      finalThumbprint: summary.certificate?.sha256Thumbprint,
    });
    add(check.name, check.ok, check.detail);
  }
  const ids = stored.telemetry.map((m) => Number((JSON.parse(m.body) as { messageId?: unknown }).messageId));
  const unique = new Set(ids);
  const min = Math.min(...ids);
  const max = Math.max(...ids);
  const midsAgree = stored.telemetry.every(
    (m) => m.systemProperties.messageId === String((JSON.parse(m.body) as { messageId?: unknown }).messageId),
  );
  add(
    "stored telemetry = sorted, every message id once",
    stored.telemetry.length === sorted &&
      unique.size === sorted &&
      ids.every(Number.isInteger) &&
      max - min + 1 === sorted &&
      midsAgree &&
      stored.device.messageCount === sorted,
    `${stored.telemetry.length} stored, ids ${min}…${max} (${unique.size} distinct)`,
  );
  const colors = storedColors(stored.telemetry);
  const summaryColors = Object.fromEntries(stored.summary.groups.map((g) => [g.value, g.count]));
  add(
    "colours agree: telemetry = sorter = the rig's bins",
    sameCounts(colors, summary.sorting.byColor) &&
      sameCounts(colors, summaryColors) &&
      (rig === undefined || sameCounts(colors, rigColors(rig.bins))),
    countsText(colors),
  );
  const issued = stored.issued.find(
    (c) => thumb(c.sha256Thumbprint) === thumb(summary.certificate?.sha256Thumbprint),
  );
  add(
    "the hub knows the issued certificate",
    issued !== undefined &&
      stored.device.authMethod === "x509CA" &&
      thumb(stored.device.certificate?.sha256Thumbprint) === thumb(summary.certificate?.sha256Thumbprint),
    issued === undefined
      ? "no certificate issued from a CSR with this thumbprint"
      : `${issued.subject}, ${issued.keyType}, connected as ${stored.device.authMethod}`,
  );
  const reported = stored.twin.properties.reported as {
    counts?: { total?: number };
    certificate?: { validUntil?: string };
    software?: { version?: string };
    sorting?: { state?: string };
  };
  add(
    "the twin reports the final counts and the certificate",
    reported.counts?.total === sorted &&
      reported.certificate?.validUntil === summary.certificate?.notAfter &&
      typeof reported.software?.version === "string" &&
      reported.sorting?.state === "stopped",
    `counts.total ${reported.counts?.total}, state ${reported.sorting?.state}, software ${reported.software?.version}`,
  );
  return checks;
}

export { countsText };

// ---------------------------------------------------------------------------------------------------------
// What the demo prints about its run, and about what is left once it exits.

/** Where the demo works; without --keep-running everything in it is gone by the time the demo exits. */
export function workDirLine(workDir: string, keepRunning: boolean): string {
  return keepRunning
    ? `working directory: ${workDir} (kept until you press Ctrl-C at the end)`
    : `working directory: ${workDir} (temporary: removed when the demo exits; --keep-running keeps it)`;
}

/** The summary block printed after the run. */
export function summaryLines(input: {
  attestation: AttestationKind;
  hubClient: HubClient;
  summary: SorterSummary | undefined;
  stored: Stored | undefined;
  checks: readonly Check[];
  wallSeconds: number;
  timeScale: number;
  hubName: string | undefined;
  dashboardUrl: string;
  keepRunning: boolean;
}): string[] {
  const { summary, stored, checks, wallSeconds, timeScale, hubName } = input;
  const lines = ["", "== Summary"];
  lines.push(
    `  attestation:   ${input.attestation === "x509" ? "X.509 bootstrap certificate" : "symmetric key (enrollment group)"} + CSR`,
    `  hub client:    ${input.hubClient}${input.hubClient === "hub-mqtt" ? " (@skittlesorter/hub-mqtt)" : " (the official Azure IoT device SDK)"}`,
    `  device:        ${summary?.deviceId ?? "?"} on ${summary?.assignedHub ?? "?"}${hubName === undefined ? "" : ` (IoT Hub ${hubName})`}`,
  );
  const issued = stored?.issued.find(
    (c) => thumb(c.sha256Thumbprint) === thumb(summary?.certificate?.sha256Thumbprint),
  );
  const renewals = hubIssuedSerials(stored?.renewals ?? []).size;
  lines.push(
    `  certificate:   ${summary?.certificate?.subject ?? "?"}, valid until ${summary?.certificate?.notAfter ?? "?"}` +
      `${issued === undefined ? "" : ` (${issued.keyType}, issued from the CSR)`}`,
  );
  if (renewsThroughHub(input.hubClient)) {
    lines.push(
      `  renewal:       issued by DPS, then renewed ${renewals} time${renewals === 1 ? "" : "s"} through IoT Hub ` +
        `(due ${RENEW_AFTER_SECONDS} s after issuance in the demo, 7 days before expiry by default)`,
    );
  }
  const rig = summary?.rig;
  lines.push(
    `  skittles:      ${summary?.sorting.sorted ?? 0} sorted: ${countsText(summary?.sorting.byColor ?? {})}`,
    `  accuracy:      ${rig === undefined ? "?" : `${(rig.accuracy * 100).toFixed(1)}% (${rig.correct} of ${rig.sorted} in the right bin)`}`,
    `  speed:         ${rig === undefined ? "?" : `${rig.skittlesPerMinute.toFixed(1)} skittles/minute`} of rig time` +
      (timeScale === 1
        ? ""
        : ` (the rig's clock ran ${timeScale === 0 ? "as fast as possible" : `${+(1 / timeScale).toFixed(2)}× faster than real time`})`) +
      `; the run took ${wallSeconds.toFixed(1)} s`,
  );
  const t = summary?.telemetry;
  lines.push(
    `  telemetry:     ${t?.queued ?? "?"} sent, ${t?.delivered ?? "?"} delivered, ${stored?.telemetry.length ?? "?"} stored in the simulator` +
      `${t === undefined ? "" : ` (${t.pending} pending, ${t.dropped} dropped)`}`,
    input.keepRunning
      ? `  dashboard:     ${input.dashboardUrl} (kept running: see below)`
      : "  dashboard:     stops with the simulator when the demo exits (pnpm demo -- --keep-running keeps it up)",
    "",
    "== Checks",
  );
  for (const check of checks) lines.push(`  ${check.ok ? "✔" : "✘"} ${check.name}: ${check.detail}`);
  return lines;
}

/** The last line without --keep-running: nothing the demo printed a path or URL for is left. */
export function goneLine(workDir: string): string {
  return `The simulator has stopped and ${workDir} has been removed. To look around afterwards (dashboard, admin API, sim.json): pnpm demo -- --keep-running`;
}
