// The main job, end to end on one machine: start the local Azure (skittle-sim) in a temporary directory, run the
// skittle sorter on its emulated rig against it — zero-touch DPS provisioning with a fresh key and CSR, the issued
// certificate, IoT Hub telemetry through the official device client (or hub-mqtt) — then compare what the sorter says it did
// with what the simulator stored, and print the summary. Exit code 0 only when every check passed.
//
//   pnpm demo [-- --attestation symmetric-key|x509] [--hub-client azure-iot-device|hub-mqtt] [--skittles N] [--time-scale X] [--keep-running]
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { main as skittle } from "@skittlesorter/cli";
import {
  type SimConfigOnDisk,
  type Simulator,
  type StartSimulatorOptions,
  startSimulator,
} from "@skittlesorter/simulator";
import { RENEW_AFTER_SECONDS } from "./demo-renewal.ts";
import {
  type AttestationKind,
  type Check,
  checkRun,
  findSecrets,
  goneLine,
  type HubClient,
  privateKeyLines,
  readStored,
  renewsThroughHub,
  runSorter,
  type SorterRun,
  type SorterSummary,
  type Stored,
  simSecrets,
  summaryLines,
  Transcript,
  workDirLine,
  writeSorterConfig,
  type X509Files,
} from "./demo-support.ts";

const USAGE = `Usage: pnpm demo [-- options]

Starts the local simulator (skittle-sim) in a temporary directory, runs the skittle sorter on its emulated rig
against it, checks the result against what the simulator stored, and prints a summary. Exit code 0 only when
every check passed.

Options:
  --attestation <kind>  symmetric-key (default: the simulator's enrollment group key) or x509 (PKI init,
                        onboarding to the simulator, a bootstrap certificate for the device)
  --hub-client <name>   the sorter's IoTHub.Client: azure-iot-device (default, the official SDK) or hub-mqtt
  --skittles <n>        how many skittles the emulated hopper holds (default 60)
  --time-scale <x>      rig time vs real time: 1 real time, 0.1 ten times faster, 0 as fast as possible (default 0.1)
  --keep-running        keep the simulator (and its dashboard) running afterwards, until Ctrl-C
  -h, --help            this text
`;

type Logger = NonNullable<StartSimulatorOptions["logger"]>;
type LogFields = Parameters<Logger["info"]>[1];

const transcript = new Transcript();
const print = (line?: string): void => transcript.print(line);

function parseOptions(): {
  attestation: AttestationKind;
  hubClient: HubClient;
  skittles: number;
  timeScale: number;
  keepRunning: boolean;
} {
  // `pnpm demo -- --x` may hand the script a literal "--": options follow it.
  const args = process.argv.slice(2).filter((arg) => arg !== "--");
  const { values } = parseArgs({
    args,
    options: {
      attestation: { type: "string", default: "symmetric-key" },
      "hub-client": { type: "string", default: "azure-iot-device" },
      skittles: { type: "string", default: "60" },
      "time-scale": { type: "string", default: "0.1" },
      "keep-running": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const attestation = values.attestation.toLowerCase().replace(/[^a-z0-9]/g, "");
  const kind: AttestationKind | undefined =
    attestation === "x509"
      ? "x509"
      : ["symmetrickey", "sas", "symmetric"].includes(attestation)
        ? "symmetric-key"
        : undefined;
  if (kind === undefined)
    throw new UsageError(`--attestation must be symmetric-key or x509, not "${values.attestation}".`);
  const hubClient = values["hub-client"].toLowerCase();
  if (hubClient !== "azure-iot-device" && hubClient !== "hub-mqtt")
    throw new UsageError(`--hub-client must be azure-iot-device or hub-mqtt, not "${values["hub-client"]}".`);
  const skittles = Number(values.skittles);
  if (!Number.isInteger(skittles) || skittles < 1 || skittles > 10_000)
    throw new UsageError(`--skittles must be a whole number from 1 to 10000, not "${values.skittles}".`);
  const timeScale = Number(values["time-scale"]);
  if (!Number.isFinite(timeScale) || timeScale < 0 || timeScale > 1)
    throw new UsageError(`--time-scale must be from 0 to 1 (1 = real time), not "${values["time-scale"]}".`);
  return { attestation: kind, hubClient, skittles, timeScale, keepRunning: values["keep-running"] };
}

class UsageError extends Error {}

/** Simulator log lines are kept (and scanned for secrets); warnings and errors are also printed. */
function simLogger(): Logger {
  const line = (level: string, message: string, fields?: LogFields): string =>
    `  sim    │ ${level} ${message}${fields === undefined || Object.keys(fields).length === 0 ? "" : ` ${JSON.stringify(fields)}`}`;
  return {
    debug: (message, fields) => transcript.keep(`${line("debug", message, fields)}\n`),
    info: (message, fields) => transcript.keep(`${line("info", message, fields)}\n`),
    warn: (message, fields) => transcript.print(line("WARN", message, fields)),
    error: (message, fields) => transcript.print(line("ERROR", message, fields)),
  };
}

/** Runs a `skittle` CLI command in-process; prints its output indented; throws when it fails. */
async function cli(title: string, argv: string[]): Promise<string> {
  let out = "";
  let err = "";
  print(`\n== ${title}\n$ skittle ${argv.join(" ")}`);
  const code = await skittle(argv, {
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      err += text;
    },
    cwd: process.cwd(),
  });
  for (const line of `${out}${err}`.trimEnd().split("\n")) if (line !== "") print(`  │ ${line}`);
  if (code !== 0) throw new Error(`skittle ${argv[0]} ${argv[1] ?? ""} failed with exit code ${code}.`);
  return out;
}

/** PKI init → onboarding to the simulator (CA upload, proof of possession, X.509 group) → the device's bootstrap certificate. */
async function x509Onboarding(
  sim: Simulator<SimConfigOnDisk>,
  workDir: string,
  registrationId: string,
): Promise<X509Files> {
  const caDir = join(workDir, "ca");
  const name = "demo";
  await cli("PKI: a root and an intermediate CA", ["pki", "init", "--name", name, "--out-dir", caDir]);
  await cli("Onboard the CA to the simulator's DPS (upload, proof of possession, X.509 enrollment group)", [
    "pki",
    "onboard",
    "--sim",
    sim.configFile,
    "--ca-dir",
    caDir,
    "--name",
    name,
  ]);
  await cli("The device's bootstrap (onboarding) certificate, from the intermediate", [
    "pki",
    "device",
    "--ca-dir",
    caDir,
    "--name",
    name,
    "--registration-id",
    registrationId,
  ]);
  return {
    cert: join(caDir, `${registrationId}-device.cert.pem`),
    key: join(caDir, `${registrationId}-device.key.pem`),
    chain: join(caDir, `${name}-chain.pem`),
  };
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}

async function demo(): Promise<number> {
  const options = parseOptions();
  const registrationId = options.attestation === "x509" ? "demo-sorter-x509" : "demo-sorter-01";
  const workDir = await mkdtemp(join(tmpdir(), "skittle-demo-"));
  let sim: Simulator<SimConfigOnDisk> | undefined;
  try {
    print(
      `Skittle sorter demo (${options.attestation === "x509" ? "X.509" : "symmetric-key"} onboarding + CSR, IoTHub.Client ${options.hubClient})`,
    );
    print(workDirLine(workDir, options.keepRunning));
    sim = await startSimulator({ dataDir: join(workDir, "sim"), logger: simLogger() });
    const hub = sim.config.hubs[0];
    print(
      `skittle-sim ready: DPS ${sim.config.dps.endpoint} (ID scope ${sim.config.idScope}), IoT Hub ${hub?.hostname}`,
    );

    const x509 =
      options.attestation === "x509" ? await x509Onboarding(sim, workDir, registrationId) : undefined;
    const groupKey = sim.config.enrollmentGroups.find((g) => g.attestation === "symmetricKey")?.primaryKey;
    const env: Record<string, string> = {};
    if (options.attestation === "symmetric-key") {
      if (groupKey === undefined) throw new Error("The simulator has no symmetric-key enrollment group.");
      env.SKITTLE__IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64 = groupKey;
    }
    await mkdir(join(workDir, "sorter"), { recursive: true });
    const configFile = await writeSorterConfig({
      sim: sim.config,
      attestation: options.attestation,
      hubClient: options.hubClient,
      registrationId,
      workDir,
      skittles: options.skittles,
      timeScale: options.timeScale,
      x509,
    });

    print(
      `\n== The sorter: emulated rig, ${options.skittles} skittles, provisions through DPS with a fresh EC P-384 key and CSR`,
    );
    if (renewsThroughHub(options.hubClient))
      print(
        `   then renews it through IoT Hub (hub-mqtt, $iothub/credentials) when due: Certificates.RenewalWindowDays is set to the policy's validity minus ${RENEW_AFTER_SECONDS} s, so renewal comes ${RENEW_AFTER_SECONDS} s after issuance`,
      );
    print(
      `$ skittle-sorter run --config ${configFile} --emulated --skittles ${options.skittles}` +
        (options.attestation === "symmetric-key"
          ? "   (group key in SKITTLE__IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64)"
          : ""),
    );
    const started = Date.now();
    const interrupt = new AbortController();
    const onInterrupt = (): void => {
      if (interrupt.signal.aborted) process.exit(130);
      print("interrupted: the sorter finishes the skittle in hand and stops (again to quit at once)");
      interrupt.abort();
    };
    process.on("SIGINT", onInterrupt);
    process.on("SIGTERM", onInterrupt);
    let run: SorterRun;
    try {
      run = await runSorter(configFile, {
        workDir,
        skittles: options.skittles,
        env,
        timeoutMs: 90_000 + options.skittles * 1500 * options.timeScale,
        onLine: (_stream, line) => print(`  sorter │ ${line}`),
        signal: interrupt.signal,
      });
    } finally {
      process.off("SIGINT", onInterrupt);
      process.off("SIGTERM", onInterrupt);
    }
    const wallSeconds = (Date.now() - started) / 1000;

    let summary: SorterSummary | undefined;
    try {
      summary = JSON.parse(await readFile(run.summaryFile, "utf8")) as SorterSummary;
    } catch {
      summary = undefined;
    }
    const deviceId = summary?.deviceId ?? registrationId;
    let stored: Stored | undefined;
    try {
      stored = await readStored(sim.config, deviceId);
    } catch (error) {
      transcript.printError(`cannot read the simulator's records: ${(error as Error).message}`);
    }
    const checks: Check[] = checkRun({
      attestation: options.attestation,
      hubClient: options.hubClient,
      run,
      summary,
      stored,
      skittles: options.skittles,
      registrationId,
      sim: sim.config,
    });

    for (const line of summaryLines({
      attestation: options.attestation,
      hubClient: options.hubClient,
      summary,
      stored,
      checks,
      wallSeconds,
      timeScale: options.timeScale,
      hubName: sim.config.hubs[0]?.name,
      dashboardUrl: sim.config.http.dashboardUrl,
      keepRunning: options.keepRunning,
    }))
      print(line);

    // Last: nothing secret anywhere in what the demo printed or logged (sorter logs and simulator logs included).
    const secrets = [
      ...simSecrets(sim.config, registrationId),
      ...(await privateKeyLines([join(workDir, "sorter"), join(workDir, "ca"), join(workDir, "sim")])),
    ];
    // The scanner must be able to fail: each secret, planted alone, is found.
    const blind = secrets.filter((secret) => findSecrets(`x ${secret.value} x`, [secret]).length === 0);
    if (blind.length > 0) throw new Error(`the secret scanner misses ${blind.map((s) => s.what).join("; ")}`);
    const leaks = findSecrets(transcript.text, secrets);
    const secretCheck: Check = {
      name: "no secret in the output or logs",
      ok: leaks.length === 0,
      detail:
        leaks.length === 0
          ? `scanned ${transcript.text.length} characters for ${secrets.length} secret values, PEM private keys and SAS signatures`
          : `found ${leaks.join("; ")}`,
    };
    checks.push(secretCheck);
    print(`  ${secretCheck.ok ? "✔" : "✘"} ${secretCheck.name}: ${secretCheck.detail}`);
    const failed = checks.filter((check) => !check.ok);
    print(
      failed.length === 0
        ? `\nDemo passed: ${checks.length} of ${checks.length} checks.`
        : `\nDemo FAILED: ${failed.length} of ${checks.length} checks failed (${failed.map((c) => c.name).join("; ")}).`,
    );

    if (options.keepRunning) {
      print(`\nThe simulator keeps running: dashboard ${sim.config.http.dashboardUrl}`);
      print(
        `admin API: ${sim.config.http.adminUrl} (e.g. ${sim.config.http.adminUrl}/devices/${deviceId}/twin)`,
      );
      print(`sim.json:  ${sim.configFile}`);
      print("Press Ctrl-C to stop it and remove the working directory.");
      await waitForSignal();
      print("stopping the simulator");
    }
    if (interrupt.signal.aborted) return 130;
    return failed.length === 0 ? 0 : 1;
  } finally {
    await sim?.close();
    await rm(workDir, { recursive: true, force: true });
    if (!options.keepRunning) print(goneLine(workDir));
  }
}

try {
  process.exitCode = await demo();
} catch (error) {
  if (error instanceof UsageError || (error as { code?: unknown }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    transcript.printError(`${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    transcript.printError(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
