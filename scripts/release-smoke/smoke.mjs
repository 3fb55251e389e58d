// Consumer smoke test for the packed packages. `pnpm release:dry` copies this file into a scratch project outside
// the workspace where every @skittlesorter tarball was installed with plain npm, and runs it there with `node`.
// It imports by package name (no source condition, so Node loads each package's dist/), uses each package a
// little through its public API, runs the bins, starts the simulator from its tarball and provisions a device
// against it with the CLI from its tarball. One PASS/FAIL line per step; exits 1 if any step failed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = realpathSync(fileURLToPath(new URL(".", import.meta.url)));
const binDir = join(here, "node_modules", ".bin");
const work = await mkdtemp(join(tmpdir(), "skittle-smoke-"));
const PACKAGES = [
  "@skittlesorter/core",
  "@skittlesorter/attestation",
  "@skittlesorter/csr",
  "@skittlesorter/dps-mqtt",
  "@skittlesorter/hub-mqtt",
  "@skittlesorter/adr-client",
  "@skittlesorter/hub-client",
  "@skittlesorter/fleet",
  "@skittlesorter/i2c",
  "@skittlesorter/tcs34725",
  "@skittlesorter/servo",
  "@skittlesorter/classifier",
  "@skittlesorter/cli",
  "@skittlesorter/simulator",
  "@skittlesorter/sorter",
];

let failures = 0;
async function step(title, action) {
  const started = Date.now();
  try {
    const detail = await action();
    console.log(`PASS ${title} (${Date.now() - started} ms)${detail ? `: ${detail}` : ""}`);
  } catch (error) {
    failures += 1;
    console.log(`FAIL ${title} (${Date.now() - started} ms): ${error?.stack ?? error}`);
  }
}

/** Runs a bin to completion; resolves { code, stdout, stderr }. */
function runBin(command, args, { timeoutMs = 120_000, env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: here, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

function expectSuccess(result, what) {
  assert.equal(
    result.code,
    0,
    `${what} exited with ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
  );
  return result.stdout;
}

/** Resolves with the child's first stdout line containing `ready`; rejects if it exits first or takes too long. */
function waitForReady(child, timeoutMs) {
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line in ${timeoutMs} ms; stderr: ${stderr}`)),
      timeoutMs,
    );
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const line = stdout.split("\n").find((text) => text.includes("ready"));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code ?? signal} before it was ready; stderr: ${stderr}`));
    });
  });
}

const exists = (path) =>
  stat(path).then(
    () => true,
    () => false,
  );

const installedVersion = (name) =>
  JSON.parse(readFileSync(join(here, "node_modules", ...name.split("/"), "package.json"), "utf8")).version;

const mod = {};

await step(
  "every package resolves to its installed tarball's dist/ (no workspace, no source condition)",
  async () => {
    for (const name of PACKAGES) {
      const file = realpathSync(fileURLToPath(import.meta.resolve(name)));
      assert.ok(
        file.startsWith(join(here, "node_modules") + sep),
        `${name} resolved outside the scratch project: ${file}`,
      );
      assert.match(file, /[/\\]dist[/\\]index\.js$/, `${name} resolved to ${file}, not dist/index.js`);
      mod[name] = await import(name);
    }
    return `${PACKAGES.length} packages imported`;
  },
);

await step("core: SkittleError, isSkittleError, delay honours an aborted signal", async () => {
  const { SkittleError, isSkittleError, delay, noopLogger } = mod["@skittlesorter/core"];
  const error = new SkittleError("SMOKE_CODE", "smoke");
  assert.ok(isSkittleError(error));
  assert.equal(error.code, "SMOKE_CODE");
  noopLogger.info("nothing happens");
  const reason = new Error("stop");
  await assert.rejects(delay(60_000, { signal: AbortSignal.abort(reason) }), (thrown) => thrown === reason);
});

await step(
  "attestation: deriveDeviceKey gives Microsoft's documented vector; SAS token round trip",
  async () => {
    const { deriveDeviceKey, createSasToken, dpsResourceUri, verifySasToken, redactSasToken } =
      mod["@skittlesorter/attestation"];
    const key = deriveDeviceKey(
      "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==",
      "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6",
    );
    assert.equal(key, "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=");
    const uri = dpsResourceUri("0ne00000A0A", "smoke-01");
    const token = createSasToken(uri, key, { keyName: "registration" });
    verifySasToken(token, key, { expectedResourceUri: uri, keyName: "registration" });
    assert.match(redactSasToken(token), /sig=\*\*\*/);
  },
);

let keyPair;
let csr;
await step("csr: generateKeyPair (EC P-384) and createCsr with CN = registration id", async () => {
  const { generateKeyPair, createCsr, parseCsr, csrFromWire } = mod["@skittlesorter/csr"];
  keyPair = await generateKeyPair("ec-p384");
  csr = await createCsr("smoke-lib-01", keyPair);
  assert.match(csr.wire, /^[A-Za-z0-9+/]+=*$/, "the DPS wire form is base64 without armour or newlines");
  const parsed = await parseCsr(csrFromWire(csr.wire));
  assert.equal(parsed.commonName, "smoke-lib-01");
  assert.equal(parsed.signatureValid, true);
  return `${csr.wire.length} base64 characters`;
});

await step(
  "dps-mqtt: provision validates its options and honours an aborted signal, before any network",
  async () => {
    const { provision, isDpsError } = mod["@skittlesorter/dps-mqtt"];
    const { symmetricKeyAttestation } = mod["@skittlesorter/attestation"];
    const attestation = symmetricKeyAttestation({
      registrationId: "smoke-lib-01",
      deviceKey: Buffer.alloc(32, 7).toString("base64"),
    });
    await assert.rejects(
      provision({ host: "127.0.0.1", idScope: "", attestation }),
      (error) => isDpsError(error) && error.code === "DPS_INVALID_OPTIONS",
    );
    const reason = new Error("aborted by the smoke test");
    await assert.rejects(
      provision({
        host: "127.0.0.1",
        port: 1,
        idScope: "0ne00000A0A",
        attestation,
        signal: AbortSignal.abort(reason),
      }),
      (error) => error === reason,
    );
  },
);

await step(
  "hub-mqtt: connectHub validates its options and honours an aborted signal, before any network",
  async () => {
    const { connectHub, isHubError, HUB_RENEWAL_API_VERSION } = mod["@skittlesorter/hub-mqtt"];
    assert.equal(HUB_RENEWAL_API_VERSION, "2025-08-01-preview");
    const credentials = { kind: "sas", deviceKey: Buffer.alloc(32, 7).toString("base64") };
    await assert.rejects(
      connectHub({ hostName: "", deviceId: "smoke-lib-01", credentials }),
      (error) => isHubError(error) && error.code === "HUB_INVALID_OPTIONS",
    );
    const reason = new Error("aborted by the smoke test");
    await assert.rejects(
      connectHub({
        hostName: "127.0.0.1",
        port: 1,
        deviceId: "smoke-lib-01",
        credentials,
        signal: AbortSignal.abort(reason),
      }),
      (error) => error === reason,
    );
  },
);

await step(
  "i2c + tcs34725 + classifier: read the emulated colour sensor through the fake bus and classify",
  async () => {
    const { FakeI2cBus } = await import("@skittlesorter/i2c/emulator");
    const { Tcs34725Emulator } = await import("@skittlesorter/tcs34725/emulator");
    const { openTcs34725, dn40 } = mod["@skittlesorter/tcs34725"];
    const { defaultClassifier, classifyOriginal, ORIGINAL_MOCK_READINGS } = mod["@skittlesorter/classifier"];
    const chip = new Tcs34725Emulator();
    const bus = new FakeI2cBus().attach(0x29, chip);
    const sensor = await openTcs34725(bus, { integrationTimeMs: 153.6, gain: 16 });
    try {
      chip.present(ORIGINAL_MOCK_READINGS.Red);
      const reading = await sensor.read();
      assert.deepEqual(
        { clear: reading.clear, red: reading.red, green: reading.green, blue: reading.blue },
        { ...ORIGINAL_MOCK_READINGS.Red },
      );
      assert.ok(Number.isFinite(dn40(reading).lux));
      assert.equal(defaultClassifier().classify(reading).label, "red");
      assert.equal(classifyOriginal(reading.red, reading.green, reading.blue, reading.clear), "Red");
      return `R=${reading.red} G=${reading.green} B=${reading.blue} C=${reading.clear} → red`;
    } finally {
      await sensor.close();
      await bus.close();
    }
  },
);

await step("servo: a PCA9685 driver on the fake bus moves a servo; the emulator sees the pulse", async () => {
  const { FakeI2cBus } = await import("@skittlesorter/i2c/emulator");
  const { Pca9685Emulator } = await import("@skittlesorter/servo/emulator");
  const { openPca9685, createServo, angleToPulseUs, DEFAULT_SERVO_CALIBRATION } = mod["@skittlesorter/servo"];
  const chip = new Pca9685Emulator();
  const bus = new FakeI2cBus().attach(0x40, chip);
  const driver = await openPca9685(bus);
  try {
    const servo = createServo(driver, 0);
    await servo.moveTo(90, { wait: false });
    const expected = angleToPulseUs(90, DEFAULT_SERVO_CALIBRATION);
    const actual = chip.pulseWidthUs(0);
    assert.ok(
      actual !== undefined && Math.abs(actual - expected) <= 10,
      `pulse ${actual} µs, expected ~${expected} µs`,
    );
    assert.deepEqual(chip.violations, []);
    return `${actual.toFixed(0)} µs at 90°`;
  } finally {
    await driver.close();
    await bus.close();
  }
});

await step(
  "adr-client: createAdrClient lists devices from a loopback ARM endpoint with a bearer token",
  async () => {
    const { createAdrClient, staticTokenCredential, ADR_API_VERSION } = mod["@skittlesorter/adr-client"];
    const seen = [];
    const server = createServer((request, response) => {
      seen.push({ url: request.url, authorization: request.headers.authorization });
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          value: [
            {
              id: "/subscriptions/0/resourceGroups/smoke-rg/providers/Microsoft.DeviceRegistry/namespaces/smoke-ns/devices/smoke-01",
              name: "smoke-01",
              type: "Microsoft.DeviceRegistry/namespaces/devices",
              properties: {},
            },
          ],
        }),
      );
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const adr = createAdrClient({
        subscriptionId: "00000000-0000-0000-0000-000000000000",
        resourceGroup: "smoke-rg",
        namespace: "smoke-ns",
        credential: staticTokenCredential("smoke-token"),
        baseUrl: `http://127.0.0.1:${server.address().port}`,
      });
      const names = [];
      for await (const device of adr.listDevices()) names.push(device.name);
      assert.deepEqual(names, ["smoke-01"]);
      assert.equal(seen.length, 1);
      assert.match(seen[0].url, /\/namespaces\/smoke-ns\/devices\?/);
      assert.ok(seen[0].url.includes(`api-version=${ADR_API_VERSION}`));
      assert.equal(seen[0].authorization, "Bearer smoke-token");
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  },
);

const cliVersion = installedVersion("@skittlesorter/cli");
await step("skittle --version (bin from the cli tarball)", async () => {
  const stdout = expectSuccess(await runBin(join(binDir, "skittle"), ["--version"]), "skittle --version");
  assert.equal(stdout.trim(), cliVersion);
  return stdout.trim();
});

await step("npx @skittlesorter/cli --version runs the package's bin", async () => {
  const stdout = expectSuccess(
    await runBin("npx", ["--no-install", "@skittlesorter/cli", "--version"]),
    "npx @skittlesorter/cli --version",
  );
  assert.equal(stdout.trim(), cliVersion);
  return stdout.trim();
});

await step(
  "npx @skittlesorter/simulator start --data-dir DIR starts it; Ctrl-C (SIGINT to the group) stops it",
  async () => {
    const npxDir = join(work, "npx-sim");
    // Its own process group, like a terminal's foreground job, so SIGINT reaches npm and the simulator alike.
    const child = spawn(
      "npx",
      ["--no-install", "@skittlesorter/simulator", "start", "--data-dir", npxDir, "--log-level", "warn"],
      { cwd: here, detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    const closed = new Promise((resolve) => child.on("close", resolve));
    try {
      await waitForReady(child, 60_000);
      const config = JSON.parse(await readFile(join(npxDir, "sim.json"), "utf8"));
      assert.equal(config.dataDir, npxDir, "--data-dir reached the simulator");
    } finally {
      try {
        process.kill(-child.pid, "SIGINT");
      } catch {
        // already gone
      }
    }
    await closed;
    // npm exec returns when it gets SIGINT; the simulator finishes its clean stop right after.
    const deadline = Date.now() + 20_000;
    while (await exists(join(npxDir, "sim.lock"))) {
      if (Date.now() > deadline) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
        throw new Error("the simulator started through npx did not stop within 20 s of SIGINT");
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await exists(join(npxDir, "sim.json")), false, "sim.json removed on a clean stop");
  },
);

// The simulator from its tarball, then the CLI from its tarball against it.
const dataDir = join(work, "sim");
let simulator;
let sim;
await step("skittle-sim start --data-dir DIR prints a ready line and writes sim.json", async () => {
  simulator = spawn(join(binDir, "skittle-sim"), ["start", "--data-dir", dataDir, "--log-level", "warn"], {
    cwd: here,
    stdio: ["ignore", "pipe", "pipe"],
  });
  simulator.exited = new Promise((resolve) =>
    simulator.on("close", (code, signal) => resolve(code ?? signal)),
  );
  const ready = await waitForReady(simulator, 60_000);
  sim = JSON.parse(await readFile(join(dataDir, "sim.json"), "utf8"));
  assert.ok(
    sim.idScope && sim.dps?.port > 0 && sim.trustedCaFile,
    "sim.json has idScope, dps.port, trustedCaFile",
  );
  return ready.trim();
});

await step("the simulator serves its dashboard (static files shipped in the tarball)", async () => {
  assert.ok(sim, "the simulator did not start");
  const response = await fetch(new URL("/dashboard/", sim.http.url));
  assert.equal(response.status, 200);
  assert.match(await response.text(), /<html/i);
});

await step("skittle provision --sim sim.json --csr (cli tarball against the simulator tarball)", async () => {
  assert.ok(sim, "the simulator did not start");
  const outDir = join(work, "dev");
  const stdout = expectSuccess(
    await runBin(join(binDir, "skittle"), [
      "provision",
      "--sim",
      join(dataDir, "sim.json"),
      "--registration-id",
      "smoke-01",
      "--csr",
      "--out-dir",
      outDir,
      "--json",
    ]),
    "skittle provision",
  );
  const result = JSON.parse(stdout);
  assert.equal(result.status, "assigned");
  assert.equal(result.registrationId, "smoke-01");
  assert.equal(result.issuedCertificateChain?.pems?.length, 3, "leaf → issuing CA → root");
  assert.match(result.issuedCertificateChain.certificates[0].subject, /CN=smoke-01/);
  assert.equal((await stat(result.files.privateKey)).mode & 0o777, 0o600, "private key file mode 0600");
  return `${result.deviceId} on ${result.assignedHub}, 3 certificates`;
});

let libDevice;
await step("dps-mqtt provision (library) with a CSR against the simulator", async () => {
  assert.ok(sim, "the simulator did not start");
  const { provision } = mod["@skittlesorter/dps-mqtt"];
  const { symmetricKeyAttestation } = mod["@skittlesorter/attestation"];
  const result = await provision({
    host: sim.dps.host,
    port: sim.dps.port,
    idScope: sim.idScope,
    attestation: symmetricKeyAttestation({
      registrationId: "smoke-lib-01",
      groupKey: sim.enrollmentGroups[0].primaryKey,
    }),
    csr: { wire: csr.wire, publicKey: keyPair.publicKey },
    ca: await readFile(sim.trustedCaFile, "utf8"),
    timeoutMs: 60_000,
  });
  assert.equal(result.status, "assigned");
  assert.equal(result.issuedCertificateChain?.pems.length, 3);
  libDevice = result;
  return `${result.deviceId} on ${result.assignedHub}`;
});

await step(
  "hub-client: the device sends telemetry with its issued certificate (official SDK, loaded on connect)",
  async () => {
    assert.ok(sim && libDevice, "the library device was not provisioned");
    const { azureIotDeviceConnector } = mod["@skittlesorter/hub-client"];
    const { privateKeyToPem } = mod["@skittlesorter/csr"];
    const connection = await azureIotDeviceConnector({
      ca: await readFile(sim.trustedCaFile, "utf8"),
    }).connect({
      type: "x509",
      hostName: libDevice.assignedHub,
      deviceId: libDevice.deviceId,
      certificatePem: libDevice.issuedCertificateChain.bundle,
      privateKeyPem: privateKeyToPem(keyPair.privateKey),
    });
    try {
      await connection.send({
        body: '{"smoke":true}',
        messageId: "smoke-1",
        contentType: "application/json",
      });
    } finally {
      await connection.close();
    }
    const response = await fetch(`${sim.http.url}/admin/telemetry?device=${libDevice.deviceId}`);
    const stored = await response.json();
    assert.ok(
      stored.some((message) => message.systemProperties.messageId === "smoke-1"),
      "the simulator did not store the message",
    );
    return `${stored.length} message(s) stored for ${libDevice.deviceId}`;
  },
);

await step("adr-client lists the provisioned devices from the simulator's ADR REST API", async () => {
  assert.ok(sim, "the simulator did not start");
  const { createAdrClient, staticTokenCredential } = mod["@skittlesorter/adr-client"];
  const adr = createAdrClient({
    subscriptionId: sim.adr.subscriptionId,
    resourceGroup: sim.adr.resourceGroup,
    namespace: sim.adr.namespace,
    credential: staticTokenCredential(sim.adr.token),
    baseUrl: sim.adr.baseUrl,
    // ADR is served over HTTPS with the simulator's own root, as Azure serves ARM over TLS.
    ca: sim.trustedCa,
  });
  const names = [];
  for await (const device of adr.listDevices()) names.push(device.name);
  assert.ok(names.includes("smoke-01") && names.includes("smoke-lib-01"), `ADR devices: ${names.join(", ")}`);
  return names.join(", ");
});

// The programmatic contract of @skittlesorter/simulator, in memory, in a process of its own whose HOME, TMPDIR and
// working directory are watched: nothing may be written to disk.
const IN_MEMORY_SCRIPT = `
import { createCsr, generateKeyPair } from "@skittlesorter/csr";
import { symmetricKeyAttestation } from "@skittlesorter/attestation";
import { provision } from "@skittlesorter/dps-mqtt";
import { startSimulator } from "@skittlesorter/simulator";
import { provisionDevice } from "@skittlesorter/simulator/testing";

const sim = await startSimulator();
try {
  const { config } = sim;
  const registrationId = "smoke-memory-01";
  const keyPair = await generateKeyPair("ec-p256");
  const csr = await createCsr(registrationId, keyPair);
  const result = await provision({
    host: config.dps.host,
    port: config.dps.port,
    idScope: config.idScope,
    ca: config.trustedCa,
    attestation: symmetricKeyAttestation({ registrationId, groupKey: config.enrollmentGroups[0].primaryKey }),
    csr: { wire: csr.wire, publicKey: keyPair.publicKey },
    timeoutMs: 60_000,
  });
  const device = await sim.admin.getDevice(result.deviceId);
  const x509 = await provisionDevice(sim, { attestation: "x509", csr: true });
  process.stdout.write(JSON.stringify({
    status: result.status,
    chain: result.issuedCertificateChain?.pems.length,
    device: device.deviceId,
    x509: x509.auth,
    configFile: sim.configFile ?? null,
    trustedCaFile: config.trustedCaFile ?? null,
  }));
} finally {
  await sim[Symbol.asyncDispose]();
}
`;

await step(
  "startSimulator() in memory: provision with dps-mqtt + CSR from sim.config, see it in sim.admin, close; no file left",
  async () => {
    const script = join(here, "in-memory-contract.mjs");
    await writeFile(script, IN_MEMORY_SCRIPT);
    const home = join(work, "memory-home");
    const tmp = join(work, "memory-tmp");
    await mkdir(home);
    await mkdir(tmp);
    const before = (await readdir(here)).sort();
    const result = await runBin(process.execPath, [script], {
      env: { ...process.env, HOME: home, TMPDIR: tmp, TMP: tmp, TEMP: tmp },
    });
    const out = JSON.parse(expectSuccess(result, "the in-memory contract script"));
    assert.deepEqual(out, {
      status: "assigned",
      chain: 3,
      device: "smoke-memory-01",
      x509: "x509",
      configFile: null,
      trustedCaFile: null,
    });
    await rm(script);
    assert.deepEqual(
      (await readdir(here)).sort(),
      before.filter((name) => name !== "in-memory-contract.mjs"),
    );
    assert.deepEqual(await readdir(home), [], "nothing written to HOME");
    assert.deepEqual(await readdir(tmp), [], "nothing written to TMPDIR");
    return `${out.device} (CSR, 3 certificates) and an X.509 device through ./testing; no files`;
  },
);

await step("skittle-sim stops on SIGTERM with exit code 0", async () => {
  assert.ok(simulator, "the simulator did not start");
  simulator.kill("SIGTERM");
  let timer;
  const code = await Promise.race([
    simulator.exited,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve("no exit within 20 s"), 20_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(code, 0);
  assert.equal(await exists(join(dataDir, "sim.json")), false, "sim.json removed on a clean stop");
});

if (simulator && simulator.exitCode === null && simulator.signalCode === null) simulator.kill("SIGKILL");
await rm(work, { recursive: true, force: true });
console.log(failures === 0 ? "smoke: all steps passed" : `smoke: ${failures} step(s) failed`);
process.exitCode = failures === 0 ? 0 : 1;
