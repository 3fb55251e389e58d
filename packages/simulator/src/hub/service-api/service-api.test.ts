import { request as httpsRequest } from "node:https";
import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import iothub from "azure-iothub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionDevice, startTestSim, type TestSim, waitFor } from "../../sim.test-support.ts";
import { startSimulator } from "../../simulator.ts";

const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;
type DeviceClient = InstanceType<typeof Client>;

interface Answer<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

interface DeviceDocument {
  deviceId: string;
  etag: string;
  generationId: string;
  status: string;
  statusReason: string | null;
  connectionState: string;
  authentication: {
    type: string;
    symmetricKey: { primaryKey: string | null; secondaryKey: string | null };
    x509Thumbprint: { primaryThumbprint: string | null; secondaryThumbprint: string | null };
  };
}

interface TwinDocument {
  deviceId: string;
  etag: string;
  version: number;
  tags: Record<string, unknown>;
  properties: {
    desired: Record<string, unknown> & { $version: number };
    reported: Record<string, unknown> & { $version: number };
  };
}

const THUMBPRINT = "AB".repeat(20);

/** Reads `Key=value;…` (values may contain `=`). */
function connectionStringField(connectionString: string, name: string): string {
  for (const part of connectionString.split(";")) {
    const at = part.indexOf("=");
    if (part.slice(0, at) === name) return part.slice(at + 1);
  }
  throw new Error(`no ${name} in the connection string`);
}

// The IoT Hub service REST API through real HTTPS (the simulator's TLS, its root trusted), signed as the official
// `azure-iothub` package signs (its own SharedAccessSignature.create: sr = bare host name, skn = iothubowner).
describe("IoT Hub service REST API", () => {
  let sim: TestSim;
  let hostname: string;
  let ownerKey: string;

  const sas = (options: { key?: string; policy?: string; expiry?: number; host?: string } = {}): string =>
    iothub.SharedAccessSignature.create(
      options.host ?? hostname,
      options.policy ?? "iothubowner",
      options.key ?? ownerKey,
      options.expiry ?? Math.floor(Date.now() / 1000) + 3600,
    ).toString();

  const call = <T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; ifMatch?: string; authorization?: string | null } = {},
  ): Promise<Answer<T>> =>
    new Promise((resolve, reject) => {
      const url = new URL(`${path}?api-version=2021-04-12`, sim.config.https.url);
      const body = options.body === undefined ? undefined : JSON.stringify(options.body);
      const headers: Record<string, string> = { "request-id": "test", "user-agent": "azure-iothub/1.16.6" };
      const authorization = options.authorization === undefined ? sas() : options.authorization;
      if (authorization !== null) headers.authorization = authorization;
      if (options.ifMatch !== undefined) headers["if-match"] = options.ifMatch;
      if (body !== undefined) headers["content-type"] = "application/json; charset=utf-8";
      const outgoing = httpsRequest(url, { method, headers, ca: sim.rootPem }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: (text === "" ? undefined : JSON.parse(text)) as T,
            text,
          });
        });
      });
      outgoing.on("error", reject);
      outgoing.end(body);
    });

  const errorCodeOf = (answer: Answer): string | undefined =>
    /^ErrorCode:([^;]+);/.exec((answer.body as { Message?: string }).Message ?? "")?.[1];

  const connect = async (deviceId: string, key: string): Promise<DeviceClient> => {
    const client = Client.fromConnectionString(
      `HostName=${hostname};DeviceId=${deviceId};SharedAccessKey=${key}`,
      Mqtt,
    );
    await client.setOptions({ ca: sim.rootPem });
    await client.open();
    return client;
  };

  const createSasDevice = async (deviceId: string): Promise<DeviceDocument> => {
    const created = await call<DeviceDocument>("PUT", `/devices/${deviceId}`, {
      body: { deviceId, authentication: { type: "sas", symmetricKey: { primaryKey: "", secondaryKey: "" } } },
    });
    expect(created.status).toBe(200);
    return created.body;
  };

  const subscribed = async (deviceId: string, what: string): Promise<true> =>
    waitFor(`${deviceId} subscribed to ${what}`, async () =>
      (await sim.admin.get<{ subscriptions: string[] }>(`/admin/devices/${deviceId}`)).subscriptions.includes(
        what,
      )
        ? true
        : undefined,
    );

  beforeAll(async () => {
    sim = await startTestSim();
    const hub = sim.config.hubs[0];
    if (hub === undefined) throw new Error("no hub in sim.json");
    hostname = hub.hostname;
    expect(connectionStringField(hub.serviceConnectionString, "HostName")).toBe(hostname);
    expect(connectionStringField(hub.serviceConnectionString, "SharedAccessKeyName")).toBe("iothubowner");
    ownerKey = connectionStringField(hub.serviceConnectionString, "SharedAccessKey");
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("answers 401 IotHubUnauthorizedAccess to a missing, wrongly signed, expired or foreign-policy token", async () => {
    const wronglySigned = sas({ key: Buffer.alloc(32, 9).toString("base64") });
    const refused = [
      await call("GET", "/devices/", { authorization: null }),
      await call("GET", "/devices/", { authorization: "Bearer abc" }),
      await call("GET", "/devices/", { authorization: wronglySigned }),
      await call("GET", "/devices/", { authorization: sas({ expiry: Math.floor(Date.now() / 1000) - 10 }) }),
      await call("GET", "/devices/", { authorization: sas({ policy: "registryRead" }) }),
      await call("GET", "/devices/", { authorization: sas({ host: "otherhub.azure-devices.net" }) }),
    ];
    for (const answer of refused) {
      expect(answer.status).toBe(401);
      expect(errorCodeOf(answer)).toBe("IotHubUnauthorizedAccess");
      expect((answer.body as { ExceptionMessage: string }).ExceptionMessage).toMatch(/^Tracking ID:/);
    }
    expect(refused[3]?.text).toMatch(/expired/);
    // The answer never echoes the signature.
    const signature = decodeURIComponent(/sig=([^&]+)/.exec(wronglySigned)?.[1] ?? "");
    expect(signature).not.toBe("");
    expect(refused[2]?.text).not.toContain(signature);
    expect((await call("GET", "/devices/")).status).toBe(200);
  });

  it("creates, reads, lists, updates and deletes device identities with generated keys and etags", async () => {
    const created = await createSasDevice("svc-crud-01");
    expect(created).toMatchObject({
      deviceId: "svc-crud-01",
      status: "enabled",
      connectionState: "Disconnected",
    });
    expect(created.authentication.type).toBe("sas");
    for (const key of [
      created.authentication.symmetricKey.primaryKey,
      created.authentication.symmetricKey.secondaryKey,
    ]) {
      expect(Buffer.from(key ?? "", "base64")).toHaveLength(32);
    }
    expect(created.generationId).toMatch(/^\d{18}$/);

    const again = await call("PUT", "/devices/svc-crud-01", { body: { deviceId: "svc-crud-01" } });
    expect(again.status).toBe(409);
    expect(errorCodeOf(again)).toBe("DeviceAlreadyExists");

    const read = await call<DeviceDocument>("GET", "/devices/svc-crud-01");
    expect(read.body).toEqual(created);
    const listed = await call<DeviceDocument[]>("GET", "/devices/");
    expect(Array.isArray(listed.body)).toBe(true);
    expect(listed.body.map((device) => device.deviceId)).toContain("svc-crud-01");

    // An update with `""` keys keeps them; a stale etag is refused; `*` and the current etag are accepted.
    const update = {
      deviceId: "svc-crud-01",
      status: "disabled",
      statusReason: "maintenance",
      authentication: { type: "sas", symmetricKey: { primaryKey: "", secondaryKey: "" } },
    };
    const updated = await call<DeviceDocument>("PUT", "/devices/svc-crud-01", {
      body: update,
      ifMatch: `"${created.etag}"`,
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ status: "disabled", statusReason: "maintenance" });
    expect(updated.body.authentication.symmetricKey).toEqual(created.authentication.symmetricKey);
    expect(updated.body.etag).not.toBe(created.etag);
    const stale = await call("PUT", "/devices/svc-crud-01", {
      body: { ...update, status: "enabled" },
      ifMatch: `"${created.etag}"`,
    });
    expect(stale.status).toBe(412);
    expect(errorCodeOf(stale)).toBe("PreconditionFailed");
    const staleDelete = await call("DELETE", "/devices/svc-crud-01", { ifMatch: `"${created.etag}"` });
    expect(staleDelete.status).toBe(412);

    const deleted = await call("DELETE", "/devices/svc-crud-01", { ifMatch: '"*"' });
    expect(deleted.status).toBe(204);
    const gone = await call("GET", "/devices/svc-crud-01");
    expect(gone.status).toBe(404);
    expect(errorCodeOf(gone)).toBe("DeviceNotFound");
    expect(errorCodeOf(await call("PUT", "/devices/svc-crud-01", { body: update, ifMatch: '"*"' }))).toBe(
      "DeviceNotFound",
    );
  });

  it("takes X.509 thumbprint and CA devices, and refuses bad identities with 400 ArgumentInvalid", async () => {
    const selfSigned = await call<DeviceDocument>("PUT", "/devices/svc-thumb-01", {
      body: {
        deviceId: "svc-thumb-01",
        authentication: {
          type: "selfSigned",
          x509Thumbprint: { primaryThumbprint: THUMBPRINT.toLowerCase() },
        },
      },
    });
    expect(selfSigned.body.authentication).toEqual({
      type: "selfSigned",
      symmetricKey: { primaryKey: null, secondaryKey: null },
      x509Thumbprint: { primaryThumbprint: THUMBPRINT, secondaryThumbprint: null },
    });
    const ca = await call<DeviceDocument>("PUT", "/devices/svc-ca-01", {
      body: { deviceId: "svc-ca-01", authentication: { type: "certificateAuthority" } },
    });
    expect(ca.body.authentication.type).toBe("certificateAuthority");

    const bad = [
      await call("PUT", "/devices/svc-bad-01", { body: { deviceId: "another" } }),
      await call("PUT", "/devices/svc-bad-01", { body: { authentication: { type: "selfSigned" } } }),
      await call("PUT", "/devices/svc-bad-01", { body: { authentication: { type: "none" } } }),
      await call("PUT", "/devices/svc-bad-01", { body: { status: "paused" } }),
      await call("PUT", "/devices/svc-bad-01", {
        body: { authentication: { type: "sas", symmetricKey: { primaryKey: "short" } } },
      }),
      await call("PUT", `/devices/${encodeURIComponent("bad id")}`, { body: {} }),
    ];
    for (const answer of bad) {
      expect(answer.status).toBe(400);
      expect(errorCodeOf(answer)).toBe("ArgumentInvalid");
    }
  });

  it("lists devices that DPS provisioned, from the same registry", async () => {
    const provisioned = await provisionDevice(sim, "svc-dps-01");
    const read = await call<DeviceDocument>("GET", `/devices/${provisioned.deviceId}`);
    expect(read.status).toBe(200);
    expect(read.body.authentication.symmetricKey.primaryKey).toBe(provisioned.deviceKey);
  });

  it("disabling a device closes its connection and refuses new ones until it is enabled again", async () => {
    const device = await createSasDevice("svc-disable-01");
    const key = device.authentication.symmetricKey.primaryKey ?? "";
    const client = await connect(device.deviceId, key);
    try {
      const disabled = await call<DeviceDocument>("PUT", `/devices/${device.deviceId}`, {
        body: { ...device, status: "disabled" },
        ifMatch: '"*"',
      });
      expect(disabled.status).toBe(200);
      await waitFor("the hub to drop the disabled device", async () =>
        (await call<DeviceDocument>("GET", `/devices/${device.deviceId}`)).body.connectionState ===
        "Disconnected"
          ? true
          : undefined,
      );
    } finally {
      await client.close();
    }
    await expect(connect(device.deviceId, key)).rejects.toThrow();
    await call("PUT", `/devices/${device.deviceId}`, {
      body: { ...device, status: "enabled" },
      ifMatch: '"*"',
    });
    const again = await connect(device.deviceId, key);
    await again.close();
  });

  it("serves twins: PATCH and PUT with If-Match reach the connected device as desired-property patches", async () => {
    const device = await createSasDevice("svc-twin-01");
    const client = await connect(device.deviceId, device.authentication.symmetricKey.primaryKey ?? "");
    try {
      const twin = await client.getTwin();
      const deltas: Record<string, unknown>[] = [];
      // The first event carries the twin's live desired object: keep copies.
      twin.on("properties.desired", (delta: Record<string, unknown>) => deltas.push(structuredClone(delta)));
      await subscribed(device.deviceId, "desiredUpdates");

      const first = await call<TwinDocument>("GET", `/twins/${device.deviceId}`);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ deviceId: device.deviceId, tags: {} });
      const patched = await call<TwinDocument>("PATCH", `/twins/${device.deviceId}`, {
        body: { tags: { site: "lab" }, properties: { desired: { interval: 5, mode: "fast" } } },
        ifMatch: `"${first.body.etag}"`,
      });
      expect(patched.status).toBe(200);
      expect(patched.body.tags).toEqual({ site: "lab" });
      expect(patched.body.properties.desired).toMatchObject({ interval: 5, mode: "fast" });
      await waitFor("the desired patch", () => deltas.find((delta) => delta.interval === 5));

      const stale = await call("PATCH", `/twins/${device.deviceId}`, {
        body: { properties: { desired: { interval: 6 } } },
        ifMatch: `"${first.body.etag}"`,
      });
      expect(stale.status).toBe(412);
      expect(errorCodeOf(stale)).toBe("PreconditionFailed");
      const reported = await call("PATCH", `/twins/${device.deviceId}`, {
        body: { properties: { reported: { a: 1 } } },
      });
      expect(errorCodeOf(reported)).toBe("ArgumentInvalid");

      // PUT replaces tags and desired: what disappears reaches the device as null.
      const replaced = await call<TwinDocument>("PUT", `/twins/${device.deviceId}`, {
        body: { tags: { owner: "qa" }, properties: { desired: { interval: 7 } } },
        ifMatch: `"${patched.body.etag}"`,
      });
      expect(replaced.status).toBe(200);
      expect(replaced.body.tags).toEqual({ owner: "qa" });
      const { $metadata: _m, $version: version, ...desired } = replaced.body.properties.desired;
      expect(desired).toEqual({ interval: 7 });
      const delta = await waitFor("the replacement patch", () => deltas.find((item) => item.interval === 7));
      expect(delta).toMatchObject({ interval: 7, mode: null, $version: version });
      expect(errorCodeOf(await call("GET", "/twins/nobody-01"))).toBe("DeviceNotFound");
    } finally {
      await client.close();
    }
  });

  it("invokes direct methods: the device's answer, IoT Hub's 504101 on a late device and 404103 on an offline one", async () => {
    const device = await createSasDevice("svc-method-01");
    const client = await connect(device.deviceId, device.authentication.symmetricKey.primaryKey ?? "");
    try {
      client.onDeviceMethod("calibrate", (request, response) => {
        void response.send(201, { echo: request.payload });
      });
      client.onDeviceMethod("hang", () => {
        // never answers
      });
      await subscribed(device.deviceId, "methods");
      const answered = await call("POST", `/twins/${device.deviceId}/methods`, {
        body: {
          methodName: "calibrate",
          payload: { white: 812 },
          responseTimeoutInSeconds: 10,
          connectTimeoutInSeconds: 0,
        },
      });
      expect(answered.status).toBe(200);
      expect(answered.body).toEqual({ status: 201, payload: { echo: { white: 812 } } });

      const late = await call<{ Message: string }>("POST", `/twins/${device.deviceId}/methods`, {
        body: { methodName: "hang", payload: null, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0 },
      });
      expect(late.status).toBe(504);
      expect(JSON.parse(late.body.Message)).toMatchObject({
        errorCode: 504101,
        message: "Timed out waiting for the response from device.",
      });
    } finally {
      await client.close();
    }
    const offline = await call<{ Message: string }>("POST", `/twins/${device.deviceId}/methods`, {
      body: { methodName: "calibrate", responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0 },
    });
    expect(offline.status).toBe(404);
    expect(JSON.parse(offline.body.Message)).toMatchObject({
      errorCode: 404103,
      info: { timeout: "00:00:00" },
    });
    const invalid = await call("POST", `/twins/${device.deviceId}/methods`, { body: { methodName: "a/b" } });
    expect(errorCodeOf(invalid)).toBe("ArgumentInvalid");
  });

  it("keeps the iothubowner key across restarts, and shows the connection string through the admin API only on request", async () => {
    const hidden = await sim.admin.get<{ hubs: Record<string, unknown>[] }>("/admin/config");
    expect(hidden.hubs[0]).not.toHaveProperty("serviceConnectionString");
    const shown = await sim.admin.get<{ hubs: { serviceConnectionString: string }[] }>(
      "/admin/config?includeSecrets=true",
    );
    const before = shown.hubs[0]?.serviceConnectionString;
    expect(before).toContain(`SharedAccessKey=${ownerKey}`);

    await sim.sim.close();
    const restarted = await startSimulator({
      dataDir: sim.dir.path,
      httpsPort: 0,
      hubPort: 0,
      dpsPort: 0,
      httpPort: 0,
    });
    try {
      const after = restarted.config.hubs[0]?.serviceConnectionString ?? "";
      expect(connectionStringField(after, "SharedAccessKey")).toBe(ownerKey);
    } finally {
      await restarted.close();
    }
  });
});
