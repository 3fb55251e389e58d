import { X509Certificate } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { createSasToken } from "@skittlesorter/attestation";
import { createCertificateAuthority, privateKeyToPem } from "@skittlesorter/csr";
import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import iothub from "azure-iothub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestSim,
  type TestSim,
  waitFor,
} from "../sim.test-support.ts";
import { rawHub } from "./hub-features.test-support.ts";

const { ModuleClient, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

interface ModuleView {
  moduleId: string;
  deviceId: string;
  etag: string;
  connectionState: string;
  authentication: { type: string; symmetricKey: { primaryKey: string | null; secondaryKey: string | null } };
}

interface TwinView {
  etag: string;
  properties: { desired: Record<string, unknown>; reported: Record<string, unknown> };
}

describe("module identities", () => {
  let sim: TestSim;
  let device: ProvisionedDevice;

  beforeAll(async () => {
    sim = await startTestSim();
    device = await provisionDevice(sim, "module-host-01");
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("serve an unmodified ModuleClient over MQTT: telemetry, twin get/reported/desired and a direct method", async () => {
    const created = await sim.admin.putModule(device.deviceId, "sorter", {});
    const key = (created as unknown as ModuleView).authentication.symmetricKey.primaryKey ?? "";
    const client = ModuleClient.fromConnectionString(
      `HostName=${device.assignedHub};DeviceId=${device.deviceId};ModuleId=sorter;SharedAccessKey=${key}`,
      Mqtt,
    );
    await client.setOptions({ ca: sim.rootPem });
    await client.open();
    try {
      const event = new Message("module says hi");
      event.properties.add("stage", "sort");
      await client.sendEvent(event);
      const telemetry = await sim.admin.listTelemetry({ device: device.deviceId });
      expect(telemetry.at(-1)).toMatchObject({
        body: "module says hi",
        properties: { stage: "sort" },
        systemProperties: { connectionDeviceId: device.deviceId, connectionModuleId: "sorter" },
      });

      const twin = await client.getTwin();
      await new Promise<void>((resolve, reject) =>
        twin.properties.reported.update({ speed: 3 }, (error?: Error) => (error ? reject(error) : resolve())),
      );
      const served = await sim.admin.get<TwinView>(`/admin/devices/${device.deviceId}/modules/sorter/twin`);
      expect(served.properties.reported).toMatchObject({ speed: 3 });
      // The device's own twin is untouched.
      const deviceTwin = await sim.admin.getTwin(device.deviceId);
      expect(JSON.stringify(deviceTwin)).not.toContain("speed");

      const desired = new Promise<Record<string, unknown>>((resolve) =>
        twin.on("properties.desired", (delta: Record<string, unknown>) => {
          if (delta.threshold !== undefined) resolve(delta);
        }),
      );
      await waitFor("the desired-properties subscription", async () => {
        const module = await sim.admin.get<{ subscriptions: string[] }>(
          `/admin/devices/${device.deviceId}/modules/sorter`,
        );
        return module.subscriptions.includes("desiredUpdates") ? true : undefined;
      });
      await sim.admin.request("PATCH", `/admin/devices/${device.deviceId}/modules/sorter/twin`, {
        body: { properties: { desired: { threshold: 12 } } },
      });
      expect(await desired).toMatchObject({ threshold: 12 });

      client.onMethod("reset", (request, response) => {
        // ModuleClient's typings make both optional; the SDK always passes them.
        void response?.send(200, { reset: request?.payload });
      });
      const answer = await sim.admin.request<{ status: number; payload: unknown }>(
        "POST",
        `/admin/devices/${device.deviceId}/modules/sorter/methods`,
        { body: { methodName: "reset", payload: "all", connectTimeoutInSeconds: 10 } },
      );
      expect(answer.body).toEqual({ status: 200, payload: { reset: "all" } });
      // A module's method does not reach the device's own connection, nor the other way round.
      await expect(
        sim.admin.request("POST", `/admin/devices/${device.deviceId}/methods`, {
          body: { methodName: "reset" },
        }),
      ).rejects.toMatchObject({ statusCode: 404, errorCode: "DEVICE_NOT_ONLINE" });
    } finally {
      await client.close();
    }
  });

  it("answer IoT Hub's module REST paths as azure-iothub sends them", async () => {
    // Over the simulator's HTTPS, signed with the hub's iothubowner policy as azure-iothub signs.
    const hub = sim.config.hubs[0];
    if (hub === undefined) throw new Error("the simulator has no hub");
    const fields = new Map(
      hub.serviceConnectionString.split(";").map((part) => {
        const at = part.indexOf("=");
        return [part.slice(0, at), part.slice(at + 1)] as const;
      }),
    );
    const authorization = iothub.SharedAccessSignature.create(
      String(fields.get("HostName")),
      "iothubowner",
      String(fields.get("SharedAccessKey")),
      Math.floor(Date.now() / 1000) + 3600,
    ).toString();
    const call = (
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<{ status: number; body: Record<string, unknown> | undefined }> =>
      new Promise((resolve, reject) => {
        const url = new URL(`${path}?api-version=2021-04-12`, sim.config.https.url);
        const request = httpsRequest(
          url,
          {
            method,
            ca: sim.config.trustedCa,
            headers: { "content-type": "application/json", authorization, ...headers },
          },
          (response) => {
            let text = "";
            response.on("data", (chunk: Buffer) => {
              text += chunk.toString();
            });
            response.on("end", () =>
              resolve({
                status: response.statusCode ?? 0,
                body: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>),
              }),
            );
          },
        );
        request.on("error", reject);
        request.end(body === undefined ? undefined : JSON.stringify(body));
      });
    const anonymous = await new Promise<number>((resolve, reject) => {
      const request = httpsRequest(
        new URL(`/devices/${device.deviceId}/modules?api-version=2021-04-12`, sim.config.https.url),
        { ca: sim.config.trustedCa },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on("error", reject);
      request.end();
    });
    expect(anonymous).toBe(401);
    const d = device.deviceId;
    const sas = {
      deviceId: d,
      moduleId: "rest",
      authentication: { type: "sas", symmetricKey: { primaryKey: "", secondaryKey: "" } },
    };
    const created = await call("PUT", `/devices/${d}/modules/rest`, sas);
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ moduleId: "rest", deviceId: d, authentication: { type: "sas" } });
    const again = await call("PUT", `/devices/${d}/modules/rest`, sas);
    expect(again.status).toBe(409);
    expect(again.body?.Message).toMatch(/^ErrorCode:ModuleAlreadyExistsOnDevice;/);
    const stale = await call(
      "PUT",
      `/devices/${d}/modules/rest`,
      { ...sas, managedBy: "x" },
      { "if-match": '"stale"' },
    );
    expect(stale.status).toBe(412);
    const updated = await call(
      "PUT",
      `/devices/${d}/modules/rest`,
      { ...sas, managedBy: "x" },
      { "if-match": `"${String(created.body?.etag)}"` },
    );
    expect(updated.body).toMatchObject({ managedBy: "x" });

    const listed = await call("GET", `/devices/${d}/modules`);
    expect((listed.body as unknown as ModuleView[]).map((module) => module.moduleId)).toEqual([
      "rest",
      "sorter",
    ]);

    const twin = await call("GET", `/twins/${d}/modules/rest`);
    expect(twin.body).toMatchObject({
      deviceId: d,
      moduleId: "rest",
      properties: { desired: { $version: 1 } },
    });
    const patched = await call(
      "PATCH",
      `/twins/${d}/modules/rest`,
      { properties: { desired: { a: 1 } } },
      { "if-match": `"${String(twin.body?.etag)}"` },
    );
    expect(patched.body).toMatchObject({ properties: { desired: { a: 1, $version: 2 } } });

    const offline = await call("POST", `/twins/${d}/modules/rest/methods`, {
      methodName: "ping",
      responseTimeoutInSeconds: 5,
      connectTimeoutInSeconds: 0,
      payload: null,
    });
    expect(offline.status).toBe(404);
    expect(JSON.parse(String(offline.body?.Message))).toMatchObject({ errorCode: 404103 });

    expect((await call("DELETE", `/devices/${d}/modules/rest`, undefined, { "if-match": "*" })).status).toBe(
      204,
    );
    const gone = await call("GET", `/devices/${d}/modules/rest`);
    expect(gone.status).toBe(404);
    expect(gone.body?.Message).toMatch(/^ErrorCode:ModuleNotFound;/);
  });

  it("authenticates modules with their own SAS key or X.509 thumbprint, and refuses the wrong identity", async () => {
    const created = (await sim.admin.putModule(device.deviceId, "keyed", {})) as unknown as ModuleView;
    const moduleKey = created.authentication.symmetricKey.primaryKey ?? "";
    const clientId = `${device.deviceId}/keyed`;
    const resource = `${device.assignedHub}/devices/${device.deviceId}/modules/keyed`;
    const ok = await rawHub(sim, { clientId, password: createSasToken(resource, moduleKey) });
    await ok.endAsync();
    // The device's key does not open its module; a module SAS needs the module's resource.
    await expect(
      rawHub(sim, { clientId, password: createSasToken(resource, device.deviceKey) }),
    ).rejects.toThrow(/Not authorized/);
    await expect(
      rawHub(sim, {
        clientId,
        password: createSasToken(`${device.assignedHub}/devices/${device.deviceId}`, moduleKey),
      }),
    ).rejects.toThrow(/Not authorized/);
    await expect(
      rawHub(sim, { clientId: `${device.deviceId}/missing`, password: createSasToken(resource, moduleKey) }),
    ).rejects.toThrow(/Not authorized/);

    const selfSigned = await createCertificateAuthority({
      commonName: "module x509",
      keyType: "ec-p256",
      validityDays: 2,
    });
    const thumbprint = new X509Certificate(selfSigned.certificatePem).fingerprint256.replaceAll(":", "");
    await sim.admin.putModule(device.deviceId, "certified", {
      authentication: { type: "selfSigned", x509Thumbprint: { primaryThumbprint: thumbprint } },
    });
    const tls = { cert: selfSigned.certificatePem, key: privateKeyToPem(selfSigned.privateKey) };
    const x509 = await rawHub(sim, { clientId: `${device.deviceId}/certified`, ...tls });
    await waitFor("the module's connection", async () => {
      const [module] = (await sim.admin.listModules(device.deviceId)).filter(
        (m) => m.moduleId === "certified",
      );
      return module?.connectionState === "Connected" ? true : undefined;
    });
    await x509.endAsync();
    await expect(rawHub(sim, { clientId: `${device.deviceId}/keyed`, ...tls })).rejects.toThrow(
      /Not authorized/,
    );
  });
});
