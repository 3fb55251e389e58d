import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { findBrowser } from "@skittlesorter/test-utils";
import { connectAsync, type MqttClient } from "mqtt";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestSim,
  type TestSim,
  waitFor,
  x509Of,
} from "../sim.test-support.ts";
import { openView, waitForText } from "./portal.test-support.ts";

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

  /** Chromium, started once for the tests of this file. */
  const launch = async (): Promise<Browser> => {
    if (browser !== undefined) return browser;
    // Chrome, Chromium or Edge: $CHROME_PATH, else the usual locations (scripts/setup-system.sh uses the same search).
    const browserSearch = findBrowser({ env: process.env });
    if (!browserSearch.found)
      throw new Error(`The dashboard browser test needs a browser. ${browserSearch.message}`);
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
    return browser;
  };

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
  it("shows the device, its message count, certificate days left and counts per value of a property (color by default), live", {
    timeout: 90_000,
  }, async () => {
    await send("Red");
    await send("Red");
    await send("Green");

    const page = await (await launch()).newPage();
    const failedRequests: string[] = [];
    page.on("requestfailed", (request) => {
      if (!request.url().includes("/admin/stream")) failedRequests.push(request.url());
    });
    const foreign: string[] = [];
    const asksForSecrets: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(sim.config.http.url)) foreign.push(request.url());
      if (request.url().includes("includeSecrets")) asksForSecrets.push(request.url());
    });
    await page.goto(sim.config.http.dashboardUrl);
    await openView(page, "#/devices");

    const row = `tr[data-device-id="${device.deviceId}"]`;
    const cell = (testId: string) => page.locator(`${row} [data-testid="${testId}"]`).textContent();
    await waitForText(page, `${row} [data-testid="message-count"]`, /^3$/);
    expect(await cell("connection")).toContain("connected");
    expect(Number(await cell("days-left"))).toBe(29);
    expect(await cell("auth")).toBe("x509CA");

    await openView(page, "#/provisioning");
    expect(await page.locator(`tr[data-registration-id="${device.deviceId}"]`).count()).toBe(1);

    await openView(page, "#/");
    const bar = (value: string) =>
      page.locator(`#telemetry-chart g[data-value="${value}"] .bar-count`).textContent();
    await page.waitForSelector('#telemetry-chart g[data-value="Red"]', { timeout: 15_000 });
    expect(await bar("Red")).toBe("2");
    expect(await bar("Green")).toBe("1");

    // Live: a message sent while the page is open arrives over the event stream.
    await send("Yellow");
    await page.waitForSelector('#telemetry-chart g[data-value="Yellow"]', { timeout: 15_000 });
    await page.locator('[data-testid="telemetry-card"] tbody tr').nth(3).waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="telemetry-card"] tbody tr').count()).toBe(4);

    // Count by another property: here an application property of every message.
    await page.locator("#group-by").fill("colorAlert");
    await page.locator("#group-by-form button").click();
    await page.waitForSelector('#telemetry-chart g[data-value="detected"]', { timeout: 15_000 });
    expect(await bar("detected")).toBe("4");

    // The device's page has its twin.
    await openView(page, `#/devices/${device.deviceId}`);
    expect(await page.locator('[data-testid="desired-version"]').textContent()).toBe("Desired v1");

    expect(foreign).toEqual([]);
    expect(failedRequests).toEqual([]);
    // The page never asks for secrets, and none reach it.
    expect(asksForSecrets).toEqual([]);
    const content = await page.content();
    expect(content).not.toContain(sim.groupKey);
    expect(content).not.toContain(device.deviceKey);
  });

  // Until its first load completes a view is not shown: no empty text before the data arrived empty.
  it("shows a view only once its data loaded", { timeout: 90_000 }, async () => {
    const page = await (await launch()).newPage();
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = false;
    await page.route(
      (url) => url.pathname === "/admin/telemetry",
      async (route) => {
        held = true;
        await released;
        await route.fulfill({ json: [] });
      },
    );
    await page.goto(sim.config.http.dashboardUrl, { waitUntil: "domcontentloaded" });
    await waitFor("the first load to be held", () => held || undefined, 30_000);
    expect(await page.evaluate('document.getElementById("view").dataset.ready')).toBe("false");
    expect(await page.locator("#view").textContent()).not.toContain("No telemetry yet.");

    release();
    await openView(page, "#/");
    expect(await page.locator('[data-testid="telemetry-card"] .empty').textContent()).toBe(
      "No telemetry yet.",
    );
    await page.close();
  });

  // A page on another origin (any site the user visits) tries the simple cross-origin POST that needs no
  // CORS preflight: the simulator refuses it and the device never receives the method.
  it("refuses a direct method sent by a page from another origin", { timeout: 90_000 }, async () => {
    const received: string[] = [];
    mqtt?.on("message", (topic) => {
      const match = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
      if (match === null) return;
      received.push(match[1] ?? "");
      void mqtt?.publishAsync(`$iothub/methods/res/200/?$rid=${match[2]}`, "{}");
    });
    await mqtt?.subscribeAsync("$iothub/methods/POST/#", { qos: 0 });

    const evil: Server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>elsewhere</title>");
    });
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
    try {
      const page = await (await launch()).newPage();
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const outcome = await page.evaluate(
        async ({ url, body }) => {
          try {
            await fetch(url, {
              method: "POST",
              mode: "no-cors",
              headers: { "content-type": "text/plain" },
              body,
            });
            return "answered";
          } catch (error) {
            return `failed: ${String(error)}`;
          }
        },
        {
          url: `${sim.config.http.url}/admin/devices/${device.deviceId}/methods`,
          body: JSON.stringify({ methodName: "pause", responseTimeoutInSeconds: 10 }),
        },
      );
      expect(outcome).toBe("answered");
      await page.close();
    } finally {
      await new Promise((resolve) => evil.close(resolve));
    }
    // The admin client still works, and its method arrives after anything sent before it.
    await sim.admin.request("POST", `/admin/devices/${device.deviceId}/methods`, {
      body: { methodName: "ping", responseTimeoutInSeconds: 10 },
    });
    expect(received).toEqual(["ping"]);
  });
});
