import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSim, type TestSim, waitFor } from "../sim.test-support.ts";
import { type DeviceCredentials, provisionDevice } from "../testing/index.ts";
import {
  checkViewLayout,
  launchBrowser,
  openView,
  screenshotDir,
  textOf,
  waitForExpression,
  waitForText,
} from "./portal.test-support.ts";

const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

/** A reported value long enough (and without spaces) to overflow a card that does not wrap it. */
const LONG_REPORTED = `firmware-${"0123456789abcdef".repeat(24)}`;
const EXTRA_DEVICES = 21;

// The portal's device views in headless Chromium against a running simulator: a device with an issued certificate,
// connected with the official azure-iot-device client, and enough SAS devices to need a second page.
describe("portal: devices", () => {
  let sim: TestSim;
  let browser: Browser;
  let page: Page;
  let dir: string;
  let device: DeviceCredentials;
  let client: InstanceType<typeof Client>;
  const received: string[] = [];
  const c2dReceived: string[] = [];

  beforeAll(async () => {
    sim = await startTestSim();
    dir = await screenshotDir("devices");
    device = await provisionDevice(sim.sim, { registrationId: "portal-ca-01", csr: true });
    for (let start = 0; start < EXTRA_DEVICES; start += 7) {
      await Promise.all(
        Array.from({ length: Math.min(7, EXTRA_DEVICES - start) }, (_, index) =>
          provisionDevice(sim.sim, {
            registrationId: `portal-sas-${String(start + index).padStart(2, "0")}`,
          }),
        ),
      );
    }
    client = Client.fromConnectionString(device.connectionString, Mqtt);
    await client.setOptions({
      ca: device.caPem,
      cert: device.certificateChainPem ?? "",
      key: device.privateKeyPem ?? "",
    });
    await client.open();
    client.onDeviceMethod("ping", (request, response) => {
      received.push(request.methodName);
      void response.send(200, { pong: request.payload });
    });
    client.on("message", (message) => {
      c2dReceived.push(`${message.messageId} ${message.data.toString()}`);
      client.complete(message, () => {});
    });
    const twin = await client.getTwin();
    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update(
        { firmware: LONG_REPORTED, nested: { path: LONG_REPORTED } },
        (error?: Error) => (error ? reject(error) : resolve()),
      ),
    );
    await client.sendEvent(new Message(JSON.stringify({ color: "Red" })));
    await client.sendEvent(new Message(JSON.stringify({ color: "Blue" })));
    await waitFor("the methods subscription", async () =>
      (await sim.admin.getDevice(device.deviceId)).subscriptions.includes("methods") ? true : undefined,
    );
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(sim.config.http.dashboardUrl);
    await openView(page, "#/devices");
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    await sim?.close();
  });

  it("searches and pages the devices, shows one auth vocabulary, and enables/disables a device", {
    timeout: 90_000,
  }, async () => {
    expect(await textOf(page, "#device-count")).toBe(String(EXTRA_DEVICES + 1));
    expect(await textOf(page, '[data-testid="page-range"]')).toBe(`1–20 of ${EXTRA_DEVICES + 1}`);
    expect(await page.locator('[data-testid="device-row"]').count()).toBe(20);
    await page.locator('[data-testid="next-page"]').click();
    await waitForText(page, '[data-testid="page-range"]', /^21–22 of 22$/);
    expect(await page.locator('[data-testid="device-row"]').count()).toBe(2);
    await checkViewLayout(page, dir, "devices-page-2");

    // One vocabulary in the Auth column: the connected device with an issued certificate says x509CA, as does the
    // registry record (it used to say certificateAuthority when disconnected).
    await page.locator("#device-search").fill("ca-01");
    await waitForText(page, '[data-testid="page-range"]', /^1–1 of 1$/);
    const row = `tr[data-device-id="${device.deviceId}"]`;
    expect(await textOf(page, `${row} [data-testid="auth"]`)).toBe("x509CA");
    expect(await textOf(page, `${row} [data-testid="connection"]`)).toContain("connected");
    expect(await textOf(page, `${row} [data-testid="message-count"]`)).toBe("2");
    await page.locator("#device-search").fill("sas-0");
    await waitForText(page, '[data-testid="page-range"]', /^1–10 of 10$/);
    const auths = await page.locator('[data-testid="device-row"] [data-testid="auth"]').allTextContents();
    expect(new Set(auths)).toEqual(new Set(["sas"]));

    // Disable through the page: the API says disabled, the row says so; then enable again.
    const sasRow = 'tr[data-device-id="portal-sas-03"]';
    await page.locator(`${sasRow} [data-testid="toggle-status"]`).click();
    await waitForText(page, `${sasRow} .pill`, /^disabled$/);
    expect((await sim.admin.getDevice("portal-sas-03")).status).toBe("disabled");
    await page.locator(`${sasRow} [data-testid="toggle-status"]`).click();
    await waitForText(page, `${sasRow} .pill`, /^enabled$/);
    expect((await sim.admin.getDevice("portal-sas-03")).status).toBe("enabled");
    await checkViewLayout(page, dir, "devices-search");
  });

  it("shows a device's page: identity, certificate, twin with etag, method, C2D, telemetry, connections", {
    timeout: 90_000,
  }, async () => {
    await page.locator("#device-search").fill("ca-01");
    await waitForText(page, '[data-testid="page-range"]', /^1–1 of 1$/);
    // Keyboard: the device id is a real link.
    await page.locator(`tr[data-device-id="${device.deviceId}"] a`).focus();
    await page.keyboard.press("Enter");
    await waitForExpression(
      page,
      `document.getElementById("view").dataset.ready === "true" && location.hash === "#/devices/${device.deviceId}"`,
    );
    expect(await textOf(page, '[data-testid="device-title"]')).toBe(device.deviceId);
    expect(await textOf(page, '[data-testid="identity"]')).toContain("x509CA");
    expect(await textOf(page, '[data-testid="certificate-card"] [data-testid="days-left"]')).toBe("29");
    expect(await textOf(page, '[data-testid="twin-reported"]')).toContain(LONG_REPORTED);

    // Desired properties with the twin's etag; a stale etag gets the API's error.
    const etag = (await sim.admin.getTwin(device.deviceId)).etag;
    expect(await page.locator("#desired-etag").inputValue()).toBe(etag);
    await page.locator("#desired-patch").fill('{"telemetryInterval": 2500}');
    await page.locator('[aria-label="update desired properties"] button').click();
    await waitForText(page, '[data-testid="desired-outcome"]', /^updated: desired v2$/);
    expect((await sim.admin.getTwin(device.deviceId)).properties.desired).toMatchObject({
      telemetryInterval: 2500,
    });
    await page.locator("#desired-etag").fill(etag);
    await page.locator('[aria-label="update desired properties"] button').click();
    await waitForText(page, '[data-testid="desired-outcome"]', /ETAG_MISMATCH|PRECONDITION|etag/i);

    // A direct method on the official client, answered on the page.
    await page.locator("#method-name").fill("ping");
    await page.locator("#method-payload").fill('{"n": 7}');
    await page.locator('[aria-label="invoke a direct method"] button').click();
    await waitForText(page, '[data-testid="method-outcome"]', /^status 200$/);
    expect(JSON.parse(await textOf(page, '[data-testid="method-payload-response"]'))).toEqual({
      pong: { n: 7 },
    });
    expect(received).toEqual(["ping"]);

    // A cloud-to-device message from the page: the official client receives and completes it; the page shows it.
    await page.locator("#c2d-body").fill('{"command": "blink"}');
    await page.locator("#c2d-message-id").fill("portal-c2d-1");
    await page.locator('[aria-label="send a cloud-to-device message"] button').click();
    await waitForText(page, '[data-testid="c2d-outcome"]', /^sent: message portal-c2d-1$/);
    await page
      .locator('[data-testid="c2d-card"] tr[data-message-id="portal-c2d-1"][data-state="completed"]')
      .waitFor({ timeout: 15_000 });
    expect(c2dReceived).toEqual(['portal-c2d-1 {"command": "blink"}']);

    // Its telemetry only, following the live stream; its connection history.
    expect(await page.locator('[data-testid="device-telemetry-card"] tbody tr').count()).toBe(2);
    await client.sendEvent(new Message(JSON.stringify({ color: "Green" })));
    await page.locator('[data-testid="device-telemetry-card"] tbody tr').nth(2).waitFor({ timeout: 15_000 });
    expect(await textOf(page, '[data-testid="device-telemetry-card"] tbody tr')).toContain("Green");
    expect(await page.locator('[data-testid="connections-card"] tr[data-kind="hub.connected"]').count()).toBe(
      1,
    );
    await checkViewLayout(page, dir, "device");
  });
});
