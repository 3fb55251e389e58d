import { createCsr, generateKeyPair } from "@skittlesorter/csr";
import { findBrowser } from "@skittlesorter/test-utils";
import { connectAsync, type MqttClient } from "mqtt";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionDevice, startTestSim, type TestSim, waitFor, x509Of } from "../sim.test-support.ts";
import { RENEWAL_API_VERSION } from "./credentials.ts";

// The portal's renewals table (ADR view) in headless Chromium: what is there when the page loads, and what arrives live.
describe("dashboard: certificate renewals through the hub", () => {
  let sim: TestSim;
  let browser: Browser | undefined;
  let mqtt: MqttClient | undefined;
  let deviceId: string;
  let csr: string;

  beforeAll(async () => {
    sim = await startTestSim();
    const device = await provisionDevice(sim, "dash-renew-01", { csr: true });
    deviceId = device.deviceId;
    mqtt = await connectAsync(`mqtts://127.0.0.1:${sim.config.hubs[0]?.port}`, {
      clientId: deviceId,
      username: `${device.assignedHub}/${deviceId}/?api-version=${RENEWAL_API_VERSION}`,
      ...x509Of(device),
      ca: sim.rootPem,
      reconnectPeriod: 0,
    });
    await mqtt.subscribeAsync("$iothub/credentials/res/#", { qos: 1 });
    csr = (await createCsr(deviceId, await generateKeyPair("ec-p256"))).wire;
  });

  afterAll(async () => {
    await browser?.close();
    await mqtt?.endAsync(true);
    await sim?.close();
  });

  const renew = async (rid: string, state: string): Promise<void> => {
    await mqtt?.publishAsync(
      `$iothub/credentials/POST/issueCertificate/?$rid=${rid}`,
      JSON.stringify({ id: deviceId, csr }),
      { qos: 1 },
    );
    await waitFor(`renewal ${rid} ${state}`, async () =>
      (await sim.admin.listRenewals({ device: deviceId })).some(
        (record) => record.requestId === rid && record.state === state,
      ),
    );
  };

  it("lists recent renewals with their state and answer, and shows new ones live", {
    timeout: 90_000,
  }, async () => {
    await sim.admin.addRenewalFault({ status: 429, count: 1 });
    await renew("throttled", "refused");
    await renew("first", "issued");

    const browserSearch = findBrowser({ env: process.env });
    if (!browserSearch.found) throw new Error(`The dashboard test needs a browser. ${browserSearch.message}`);
    browser = await chromium.launch({
      executablePath: browserSearch.path,
      timeout: 60_000,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    const page = await browser.newPage();
    await page.goto(`${sim.config.http.dashboardUrl}#/adr`);
    const row = (rid: string) => page.locator(`[data-testid="renewals-card"] tr[data-request-id="${rid}"]`);
    await row("first").waitFor({ timeout: 15_000 });
    expect(await row("first").locator("td").allTextContents()).toEqual([
      deviceId,
      "issued",
      "200",
      expect.stringMatching(/\d/),
      expect.any(String),
    ]);
    expect(await row("throttled").locator("td").nth(1).textContent()).toBe("refused");
    expect(await row("throttled").locator("td").nth(2).textContent()).toBe("429 (429002)");

    await renew("second", "issued"); // while the page is open: arrives through the audit stream
    await row("second").waitFor({ timeout: 15_000 });
    expect(await row("second").locator("td").nth(1).textContent()).toBe("issued");
    expect(await page.getByTestId("renewals-card").textContent()).not.toContain("No renewals yet.");
  });
});
