import { createCertificateAuthority, generateKeyPair, issueCertificate } from "@skittlesorter/csr";
import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSim, type TestSim } from "../sim.test-support.ts";
import { provisionDevice } from "../testing/index.ts";
import {
  checkViewLayout,
  launchBrowser,
  openView,
  screenshotDir,
  textOf,
  waitForExpression,
  waitForText,
} from "./portal.test-support.ts";

const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;

// The portal's provisioning, ADR and live-event views in headless Chromium against a running simulator.
describe("portal: provisioning, ADR and live events", () => {
  let sim: TestSim;
  let browser: Browser;
  let page: Page;
  let dir: string;

  beforeAll(async () => {
    sim = await startTestSim();
    dir = await screenshotDir("provisioning");
    // A device with an issued certificate (ADR's issued certificates), and a long registration id (the
    // registrations table must not scroll sideways at 1400 px).
    await provisionDevice(sim.sim, { registrationId: "portal-csr-01", csr: true });
    await provisionDevice(sim.sim, { registrationId: `portal-long-${"x".repeat(100)}` });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(sim.config.http.dashboardUrl);
    await openView(page, "#/provisioning");
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await sim?.close();
  });

  it("creates an enrollment group through the page, provisions a device against it, disables and deletes it", {
    timeout: 90_000,
  }, async () => {
    await page.locator("#enrollment-kind").selectOption("group");
    await page.locator("#enrollment-id").fill("portal-group");
    await page.locator("#enrollment-attestation").selectOption("symmetricKey");
    await page.locator("#enrollment-policy").fill("default");
    await page.locator('[aria-label="create an enrollment"] button').click();
    await waitForText(
      page,
      '[data-testid="enrollment-outcome"]',
      /^created group enrollment "portal-group"$/,
    );
    const groupRow = 'tr[data-enrollment-id="portal-group"]';
    await page.locator(groupRow).waitFor();
    expect(await textOf(page, `${groupRow} [data-testid="enrollment-state"]`)).toBe("enabled");

    // The test (not the page) reads the new group's key and provisions a device with it.
    const group = await sim.admin.getEnrollment("group", "portal-group", { includeSecrets: true });
    const groupKey = group.attestation.type === "symmetricKey" ? group.attestation.primaryKey : "";
    const device = await provisionDevice(sim.sim, {
      registrationId: "portal-enrolled-01",
      groupKey,
      csr: true,
    });
    expect(device.deviceId).toBe("portal-enrolled-01");
    // The registration arrives over the live stream, with its enrollment.
    const registration = 'tr[data-registration-id="portal-enrolled-01"]';
    await page.locator(registration).waitFor({ timeout: 15_000 });
    expect(await textOf(page, registration)).toContain("group: portal-group");
    await waitForText(
      page,
      '[data-testid="registrations-card"] table[aria-label="registration history"]',
      /registration\.assigned.*portal-enrolled-01/s,
    );
    await checkViewLayout(page, dir, "provisioning");

    // Disabled through the page: DPS refuses the group's devices.
    await page.locator(`${groupRow} [data-testid="toggle-enrollment"]`).click();
    await waitForText(page, `${groupRow} [data-testid="enrollment-state"]`, /^disabled$/);
    await expect(
      provisionDevice(sim.sim, { registrationId: "portal-enrolled-02", groupKey }),
    ).rejects.toThrow();
    await page.locator(`${groupRow} [data-testid="delete-enrollment"]`).click();
    await page.locator(groupRow).waitFor({ state: "detached" });
    await expect(sim.admin.getEnrollment("group", "portal-group")).rejects.toMatchObject({ statusCode: 404 });
  });

  it("uploads a CA certificate and shows its proof of possession from unverified to verified", {
    timeout: 90_000,
  }, async () => {
    const ca = await createCertificateAuthority({
      commonName: "portal test CA",
      keyType: "ec-p256",
      validityDays: 30,
      pathLength: 0,
    });
    await page.locator("#ca-name").fill("portal-ca");
    await page.locator("#ca-pem").fill(ca.certificatePem);
    await page.locator('[aria-label="upload a CA certificate"] button').click();
    const row = 'tr[data-ca-name="portal-ca"]';
    await waitForText(page, `${row} [data-testid="pop-status"]`, /^unverified$/);
    await page.locator(`${row} button`, { hasText: "Get verification code" }).click();
    await waitForText(page, `${row} [data-testid="pop-status"]`, /pending proof/);
    const code = (await sim.admin.getCaCertificate("portal-ca")).properties.verificationCode ?? "";
    expect(await textOf(page, `${row} [data-testid="pop-status"]`)).toContain(code);
    const proofKey = await generateKeyPair("ec-p256");
    const proof = await issueCertificate({
      publicKey: proofKey.publicKey,
      commonName: code,
      issuer: { certificatePem: ca.certificatePem, privateKey: ca.privateKey },
      validityDays: 1,
    });
    await page.locator("#verify-name").fill("portal-ca");
    await page.locator("#verify-pem").fill(proof);
    await page.locator('[aria-label="prove possession of a CA certificate"] button').click();
    await waitForText(page, `${row} [data-testid="pop-status"]`, /^verified$/);
    expect((await sim.admin.getCaCertificate("portal-ca")).properties.isVerified).toBe(true);
    await checkViewLayout(page, dir, "provisioning-ca");
  });

  it("shows the ADR namespace, its credential policies, issued certificates and renewals", {
    timeout: 90_000,
  }, async () => {
    await openView(page, "#/adr");
    expect(await textOf(page, '[data-testid="namespace"]')).toContain(sim.config.adr.namespace);
    await page.locator('tr[data-policy="default"]').waitFor();
    const issued = await sim.admin.request<{ serialNumber: string; deviceId: string }[]>(
      "GET",
      "/admin/issued-certificates",
    );
    expect(issued.body.length).toBeGreaterThan(0);
    for (const certificate of issued.body) {
      expect(await textOf(page, `tr[data-serial="${certificate.serialNumber}"]`)).toContain(
        certificate.deviceId,
      );
    }
    // Renewals are audit events whose kind names a renewal; none happened here.
    expect(await textOf(page, '[data-testid="renewals-card"]')).toContain("No renewals yet.");
    await checkViewLayout(page, dir, "adr");
  });

  it("follows the live event stream: connects, method calls, disconnects and registrations as they happen", {
    timeout: 90_000,
  }, async () => {
    await openView(page, "#/events");
    const device = await provisionDevice(sim.sim, { registrationId: "portal-live-01" });
    const events = '[data-testid="events-card"] tbody';
    await page
      .locator(`${events} tr[data-kind="registration.assigned"]`, { hasText: "portal-live-01" })
      .waitFor({ timeout: 15_000 });
    const client = Client.fromConnectionString(device.connectionString, Mqtt);
    await client.setOptions({ ca: device.caPem });
    await client.open();
    try {
      await page
        .locator(`${events} tr[data-kind="hub.connected"]`, { hasText: "portal-live-01" })
        .waitFor({ timeout: 15_000 });
      client.onDeviceMethod("blink", (_request, response) => void response.send(200, {}));
      await sim.admin.invokeMethod(device.deviceId, { methodName: "blink", connectTimeoutInSeconds: 10 });
      await page
        .locator(`${events} tr[data-kind="hub.methodInvoked"]`, { hasText: "blink" })
        .waitFor({ timeout: 15_000 });
    } finally {
      await client.close();
    }
    await page
      .locator(`${events} tr[data-kind="hub.disconnected"]`, { hasText: "portal-live-01" })
      .waitFor({ timeout: 15_000 });
    // The filter asks the API for connection events only.
    await page.locator("#event-filter").selectOption("connections");
    const kinds = `[...document.querySelectorAll('${events} tr')].map((row) => row.dataset.kind)`;
    await waitForExpression(
      page,
      `${kinds}.every((kind) => kind === "hub.connected" || kind === "hub.disconnected")`,
    );
    expect(new Set((await page.evaluate(kinds)) as string[])).toEqual(
      new Set(["hub.connected", "hub.disconnected"]),
    );
    await checkViewLayout(page, dir, "events");
  });
});
