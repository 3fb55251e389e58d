import { connect, type Socket } from "node:net";
import type { Logger } from "@skittlesorter/core";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestSim,
  type TestSim,
  waitFor,
  x509Of,
} from "../sim.test-support.ts";

const MESSAGE_BYTES = 128 * 1024;
/** Far more than any loopback socket buffers plus the 1 MiB bound: reaching it means nobody was cut off. */
const MAX_MESSAGES = 1500;

// /admin/stream: a reader that stops reading is disconnected once its unsent data passes the bound
// (logged once), instead of the simulator buffering for it without limit; a reader that keeps up is unaffected.
describe("live event stream back-pressure", () => {
  let sim: TestSim;
  let device: ProvisionedDevice;
  let mqtt: MqttClient | undefined;
  const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (message, fields) => warnings.push({ message, fields }),
    error: () => {},
  };

  beforeAll(async () => {
    sim = await startTestSim({ logger });
    device = await provisionDevice(sim, "stream-dev-01", { csr: true });
    mqtt = await connectAsync(`mqtts://127.0.0.1:${sim.config.hubs[0]?.port}`, {
      clientId: device.deviceId,
      username: `${device.assignedHub}/${device.deviceId}/?api-version=2021-04-12`,
      ...x509Of(device),
      ca: sim.rootPem,
      reconnectPeriod: 0,
    });
  });
  afterAll(async () => {
    await mqtt?.endAsync(true);
    await sim?.close();
  });

  /** Opens the stream over a raw socket; resolves once the response head arrived, then stops reading. */
  const stalledReader = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const url = new URL(sim.config.http.url);
      const socket = connect(Number(url.port), url.hostname);
      socket.once("error", reject);
      socket.write(`GET /admin/stream?types=telemetry HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      socket.once("data", (chunk: Buffer) => {
        expect(chunk.toString("utf8")).toMatch(/^HTTP\/1\.1 200/);
        socket.pause();
        resolve(socket);
      });
    });

  it("disconnects a reader that never reads, and keeps serving one that does", {
    timeout: 120_000,
  }, async () => {
    const stalled = await stalledReader();
    const closed = new Promise<void>((resolve) => stalled.once("close", () => resolve()));

    const live = await fetch(`${sim.config.http.url}/admin/stream?types=telemetry`);
    const reader = live.body?.getReader();
    if (reader === undefined) throw new Error("no stream body");
    let liveEvents = 0;
    let liveText = "";
    const reading = (async () => {
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        liveText += decoder.decode(value, { stream: true });
        const parts = liveText.split("\n\n");
        liveText = parts.pop() ?? "";
        liveEvents += parts.filter((part) => part.includes("event: telemetry")).length;
      }
    })();

    const body = JSON.stringify({ color: "Red", filler: "x".repeat(MESSAGE_BYTES) });
    const topic = `devices/${device.deviceId}/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8`;
    const cutOff = () => warnings.some((warning) => warning.message.includes("too slow"));
    let sent = 0;
    while (!cutOff() && sent < MAX_MESSAGES) {
      await mqtt?.publishAsync(topic, body, { qos: 1 });
      sent++;
    }
    expect(cutOff(), `no reader was disconnected after ${sent} messages of ${MESSAGE_BYTES} bytes`).toBe(
      true,
    );
    for (let extra = 0; extra < 5; extra++) {
      await mqtt?.publishAsync(topic, body, { qos: 1 });
      sent++;
    }

    // Reading again drains what the kernel held, then the end: the simulator closed the connection.
    stalled.resume();
    await closed;
    const slow = warnings.filter((warning) => warning.message.includes("too slow"));
    expect(slow).toHaveLength(1);
    expect(slow[0]?.fields).toMatchObject({ path: "/admin/stream", limitBytes: 1024 * 1024 });

    await waitFor("the live reader to receive every message", () => liveEvents >= sent || undefined, 60_000);
    expect(liveEvents).toBe(sent);
    await reader.cancel();
    await reading;
  });
});
