import { findBrowser } from "@skittlesorter/test-utils";
import { connectAsync, type MqttClient } from "mqtt";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestSim,
  type TestSim,
  x509Of,
} from "./sim.test-support.ts";

/** The page's globals, for the functions that run inside the browser (this package has no DOM types). */
interface PageGlobals {
  document: {
    body: { dataset: Record<string, string | undefined> };
    querySelector(selector: string): { textContent: string | null } | null;
    getElementById(id: string): { textContent: string | null } | null;
  };
}

// The dashboard in headless Chromium: after a device sends messages, the page shows the device, its message
// count, its certificate's days left, the registration, and a per-colour bar that follows the live stream.
describe("dashboard", () => {
  let sim: TestSim;
  let browser: Browser | undefined;
  let device: ProvisionedDevice;
  let mqtt: MqttClient | undefined;

  const send = (color: string) =>
    mqtt?.publishAsync(
      `devices/${device.deviceId}/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&colorAlert=detected`,
      JSON.stringify({ color, timestamp: new Date().toISOString() }),
      { qos: 1 },
    );

  beforeAll(async () => {
    sim = await startTestSim();
    device = await provisionDevice(sim, "dash-sorter-01", { csr: true });
    const hub = sim.config.hubs[0];
    mqtt = await connectAsync(`mqtts://127.0.0.1:${hub?.port}`, {
      clientId: device.deviceId,
      username: `${device.assignedHub}/${device.deviceId}/?api-version=2021-04-12`,
      ...x509Of(device),
      ca: sim.rootPem,
      reconnectPeriod: 0,
    });
  });

  afterAll(async () => {
    await browser?.close();
    await mqtt?.endAsync(true);
    await sim?.close();
  });

  // Chromium's start-up is the slow part on a busy 2-core machine.
  it("shows the device, its message count, certificate days left and per-colour counts, live", {
    timeout: 90_000,
  }, async () => {
    // Chrome, Chromium or Edge: $CHROME_PATH, else the usual locations (scripts/setup-system.sh uses the same search).
    const browserSearch = findBrowser();
    if (!browserSearch.found)
      throw new Error(`The dashboard browser test needs a browser. ${browserSearch.message}`);
    await send("Red");
    await send("Red");
    await send("Green");

    browser = await chromium.launch({
      executablePath: browserSearch.path,
      timeout: 60_000,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const page = await browser.newPage();
    const failedRequests: string[] = [];
    page.on("requestfailed", (request) => {
      if (!request.url().includes("/admin/stream")) failedRequests.push(request.url());
    });
    const foreign: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(sim.config.http.url)) foreign.push(request.url());
    });
    await page.goto(sim.config.http.dashboardUrl);
    await page.waitForFunction(
      () => (globalThis as unknown as PageGlobals).document.body.dataset.ready === "true",
      undefined,
      { timeout: 15_000 },
    );

    const row = `tr[data-device-id="${device.deviceId}"]`;
    const cell = (testId: string) => page.locator(`${row} [data-testid="${testId}"]`).textContent();
    await page.waitForFunction(
      (selector) =>
        (globalThis as unknown as PageGlobals).document.querySelector(
          `${selector} [data-testid="message-count"]`,
        )?.textContent === "3",
      row,
      { timeout: 15_000 },
    );
    expect(await cell("message-count")).toBe("3");
    expect(await cell("connection")).toContain("connected");
    expect(Number(await cell("days-left"))).toBe(29);
    expect(await page.locator(`#registrations tr[data-registration-id="${device.deviceId}"]`).count()).toBe(
      1,
    );
    const bar = (color: string) =>
      page.locator(`#color-chart g[data-color="${color}"] .bar-count`).textContent();
    expect(await bar("Red")).toBe("2");
    expect(await bar("Green")).toBe("1");

    // Live: a message sent while the page is open arrives over the event stream.
    await send("Yellow");
    await page.waitForFunction(
      (selector) =>
        (globalThis as unknown as PageGlobals).document.querySelector(
          `${selector} [data-testid="message-count"]`,
        )?.textContent === "4",
      row,
      { timeout: 15_000 },
    );
    await page.waitForSelector('#color-chart g[data-color="Yellow"]', { timeout: 15_000 });
    expect(await page.locator("#telemetry tbody tr").count()).toBe(4);

    // Twin view.
    await page.locator(row).click();
    await page.waitForFunction(
      (id) =>
        (globalThis as unknown as PageGlobals).document.getElementById("twin-device")?.textContent === id,
      device.deviceId,
      { timeout: 15_000 },
    );
    expect(await page.locator("#twin-desired-version").textContent()).toBe("v1");

    expect(foreign).toEqual([]);
    expect(failedRequests).toEqual([]);
  });
});
