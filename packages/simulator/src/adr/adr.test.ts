import { createSasToken } from "@skittlesorter/attestation";
import { connectAsync } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpsRequest } from "../net/https.test-support.ts";
import { type ProvisionedDevice, provisionDevice, startTestSim, type TestSim } from "../sim.test-support.ts";

interface ArmDevice {
  id: string;
  name: string;
  type: string;
  etag: string;
  tags: Record<string, string>;
  properties: {
    externalDeviceId: string;
    enabled: boolean;
    attributes: Record<string, unknown>;
    policy?: { resourceId: string };
    operatingSystemVersion?: string;
    provisioningState: string;
    version: number;
    endpoints?: { outbound?: { assigned?: Record<string, { address: string }> } };
  };
}

const API = "api-version=2025-11-01-preview";
const OPERATION_DELAY_MS = 600;

// The ADR ARM REST API over HTTPS on loopback (the simulator's trusted root), with the bearer token from sim.json.
describe("ADR REST (Microsoft.DeviceRegistry)", () => {
  let sim: TestSim;
  let devices: ProvisionedDevice[];
  let namespaceUrl: string;

  const arm = async (
    method: string,
    url: string,
    options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: unknown; headers: Headers }> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== null) headers.authorization = `Bearer ${options.token ?? sim.config.adr.token}`;
    const answer = await httpsRequest(url, { method, headers, body: options.body, ca: sim.rootPem });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (typeof value === "string") responseHeaders.set(name, value);
    }
    return { status: answer.status, body: answer.body, headers: responseHeaders };
  };
  const deviceUrl = (name: string): string => `${namespaceUrl}/devices/${name}?${API}`;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  beforeAll(async () => {
    sim = await startTestSim({ adrPageSize: 2, adrOperationDelayMs: OPERATION_DELAY_MS });
    devices = [];
    for (const id of ["adr-dev-a", "adr-dev-b", "adr-dev-c"]) devices.push(await provisionDevice(sim, id));
    const { adr } = sim.config;
    namespaceUrl = `${adr.baseUrl}/subscriptions/${adr.subscriptionId}/resourceGroups/${adr.resourceGroup}/providers/Microsoft.DeviceRegistry/namespaces/${adr.namespace}`;
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("requires the bearer token from sim.json (401 with an ARM error otherwise)", async () => {
    const missing = await arm("GET", `${namespaceUrl}/devices?${API}`, { token: null });
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({
      error: { code: "AuthenticationFailed", message: expect.any(String) },
    });
    expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer /);
    const wrong = await arm("GET", `${namespaceUrl}/devices?${API}`, { token: "not-the-token" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ error: { code: "InvalidAuthenticationToken" } });
    const noVersion = await arm("GET", `${namespaceUrl}/devices`);
    expect(noVersion.status).toBe(400);
    expect(noVersion.body).toMatchObject({ error: { code: "MissingApiVersionParameter" } });
  });

  it("lists the devices provisioning created, in pages linked by absolute same-origin nextLinks", async () => {
    const first = await arm("GET", `${namespaceUrl}/devices?${API}`);
    expect(first.status).toBe(200);
    const page1 = first.body as { value: ArmDevice[]; nextLink?: string };
    expect(page1.value.map((device) => device.name)).toEqual(["adr-dev-a", "adr-dev-b"]);
    expect(page1.nextLink).toBeDefined();
    const next = new URL(page1.nextLink ?? "");
    expect(next.protocol).toBe("https:");
    expect(next.origin).toBe(new URL(sim.config.adr.baseUrl).origin);
    expect(next.searchParams.get("api-version")).toBe("2025-11-01-preview");
    const second = await arm("GET", page1.nextLink ?? "");
    const page2 = second.body as { value: ArmDevice[]; nextLink?: string };
    expect(page2.value.map((device) => device.name)).toEqual(["adr-dev-c"]);
    expect(page2.nextLink).toBeUndefined();

    const [device] = page1.value;
    expect(device).toMatchObject({
      id: `${sim.config.adr.namespaceId}/devices/adr-dev-a`,
      name: "adr-dev-a",
      type: "Microsoft.DeviceRegistry/namespaces/devices",
      properties: {
        externalDeviceId: "adr-dev-a",
        enabled: true,
        provisioningState: "Succeeded",
        policy: { resourceId: `${sim.config.adr.namespaceId}/credentials/default/policies/default` },
        endpoints: { outbound: { assigned: { "skittle-hub": { address: devices[0]?.assignedHub } } } },
      },
    });

    const byOne: string[] = [];
    let url: string | undefined = `${namespaceUrl}/devices?${API}&$top=1`;
    while (url !== undefined) {
      const page = (await arm("GET", url)).body as { value: ArmDevice[]; nextLink?: string };
      byOne.push(...page.value.map((item) => item.name));
      url = page.nextLink;
    }
    expect(byOne).toEqual(["adr-dev-a", "adr-dev-b", "adr-dev-c"]);
  });

  it("gets a device, and answers 404 with an ARM error body for a missing one", async () => {
    const found = await arm("GET", deviceUrl("adr-dev-b"));
    expect(found.status).toBe(200);
    expect((found.body as ArmDevice).properties.externalDeviceId).toBe("adr-dev-b");
    expect(found.headers.get("x-ms-request-id")).toBeTruthy();
    const missing = await arm("GET", deviceUrl("no-such-device"));
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      error: { code: "ResourceNotFound", message: expect.stringContaining("no-such-device") },
    });
    const otherNamespace = await arm(
      "GET",
      `${namespaceUrl.replace(/skittle-ns$/, "other-ns")}/devices/x1?${API}`,
    );
    expect(otherNamespace.status).toBe(404);
    expect(otherNamespace.body).toMatchObject({ error: { code: "ParentResourceNotFound" } });
  });

  it("PATCHes updatable fields as a long-running operation: tags replaced, attributes merged", async () => {
    await arm("PATCH", deviceUrl("adr-dev-a"), { body: { tags: { site: "lab", stale: "yes" } } });
    const accepted = await arm("PATCH", deviceUrl("adr-dev-a"), {
      body: {
        tags: { site: "kitchen" },
        properties: { attributes: { bins: 6, sensor: "tcs34725" }, operatingSystemVersion: "12.11" },
      },
    });
    expect(accepted.status).toBe(202);
    const asyncUrl = accepted.headers.get("azure-asyncoperation");
    const location = accepted.headers.get("location");
    expect(asyncUrl).toMatch(/^https:\/\/.*\/operationStatuses\/.*api-version=2025-11-01-preview$/);
    expect(location).toMatch(/^https:\/\/.*\/operationResults\/.*api-version=2025-11-01-preview$/);
    expect(accepted.headers.get("retry-after")).toBe("1");

    expect((await arm("GET", location ?? "")).status).toBe(202);
    expect((await arm("GET", asyncUrl ?? "")).body).toMatchObject({ status: "InProgress" });
    await sleep(OPERATION_DELAY_MS + 50);
    expect((await arm("GET", asyncUrl ?? "")).body).toMatchObject({ status: "Succeeded" });
    const result = await arm("GET", location ?? "");
    expect(result.status).toBe(200);

    const device = (await arm("GET", deviceUrl("adr-dev-a"))).body as ArmDevice;
    expect(device.tags).toEqual({ site: "kitchen" });
    expect(device.properties.attributes).toEqual({ bins: 6, sensor: "tcs34725" });
    expect(device.properties.operatingSystemVersion).toBe("12.11");
    expect(result.body).toMatchObject({ name: "adr-dev-a" });

    await arm("PATCH", deviceUrl("adr-dev-a"), {
      body: { properties: { attributes: { bins: 8, sensor: null } } },
    });
    const merged = (await arm("GET", deviceUrl("adr-dev-a"))).body as ArmDevice;
    expect(merged.properties.attributes).toEqual({ bins: 8 });
    expect(merged.tags).toEqual({ site: "kitchen" });
    expect(merged.properties.version).toBeGreaterThan(device.properties.version);
  });

  it("refuses PATCHes of read-only, creation-only, unknown or mistyped fields with 400", async () => {
    const cases: [unknown, string][] = [
      [{ properties: { externalDeviceId: "other" } }, "PropertyChangeNotAllowed"],
      [{ properties: { manufacturer: "Contoso" } }, "PropertyChangeNotAllowed"],
      [{ properties: { provisioningState: "Failed" } }, "PropertyChangeNotAllowed"],
      [{ location: "westeurope" }, "PropertyChangeNotAllowed"],
      [{ properties: { colour: "red" } }, "InvalidRequestContent"],
      [{ properties: { enabled: "yes" } }, "InvalidRequestContent"],
      [{ tags: { bins: 6 } }, "InvalidTagValue"],
      [{ properties: { policy: { resourceId: "/not/a/policy" } } }, "InvalidPolicyReference"],
    ];
    for (const [body, code] of cases) {
      const answer = await arm("PATCH", deviceUrl("adr-dev-b"), { body });
      expect({
        body,
        status: answer.status,
        code: (answer.body as { error: { code: string } }).error.code,
      }).toEqual({
        body,
        status: 400,
        code,
      });
    }
    const missing = await arm("PATCH", deviceUrl("no-such-device"), { body: { tags: {} } });
    expect(missing.status).toBe(404);
  });

  it("applies ADR enablement to the hub: a disabled device cannot connect", async () => {
    const device = devices[1] as ProvisionedDevice;
    const hub = sim.config.hubs[0];
    const connect = () =>
      connectAsync(`mqtts://127.0.0.1:${hub?.port}`, {
        clientId: device.deviceId,
        username: `${device.assignedHub}/${device.deviceId}/?api-version=2021-04-12`,
        password: createSasToken(`${device.assignedHub}/devices/${device.deviceId}`, device.deviceKey),
        ca: sim.rootPem,
        reconnectPeriod: 0,
      });
    const connected = await connect();
    const dropped = new Promise<void>((resolve) => connected.once("close", () => resolve()));
    await arm("PATCH", deviceUrl(device.deviceId), { body: { properties: { enabled: false } } });
    await dropped;
    await connected.endAsync(true);
    await expect(connect()).rejects.toThrow(/Not authorized/);
    const hubDevice = await sim.admin.get<{ status: string }>(`/admin/devices/${device.deviceId}`);
    expect(hubDevice.status).toBe("disabled");
    await arm("PATCH", deviceUrl(device.deviceId), { body: { properties: { enabled: true } } });
    const again = await connect();
    await again.endAsync();
  });

  it("serves credential policies and synchronizes credentials", async () => {
    const list = await arm("GET", `${namespaceUrl}/credentials/default/policies?${API}`);
    expect(list.status).toBe(200);
    const [policy] = (list.body as { value: Record<string, unknown>[] }).value;
    expect(policy).toMatchObject({
      id: `${sim.config.adr.namespaceId}/credentials/default/policies/default`,
      name: "default",
      type: "Microsoft.DeviceRegistry/namespaces/credentials/policies",
      properties: {
        certificate: {
          certificateAuthorityConfiguration: { keyType: "ECC", subject: expect.stringContaining("CN=") },
          leafCertificateConfiguration: { validityPeriodInDays: 30 },
        },
        provisioningState: "Succeeded",
      },
    });
    const one = await arm("GET", `${namespaceUrl}/credentials/default/policies/default?${API}`);
    expect(one.body).toEqual(policy);
    expect((await arm("GET", `${namespaceUrl}/credentials/default/policies/nope?${API}`)).status).toBe(404);

    const sync = await arm("POST", `${namespaceUrl}/credentials/default/synchronize?${API}`);
    expect(sync.status).toBe(202);
    await sleep(OPERATION_DELAY_MS + 50);
    expect((await arm("GET", sync.headers.get("location") ?? "")).status).toBe(200);
  });

  it("deletes a device (202, then 404; deleting again is 204) and its hub identity", async () => {
    const deleted = await arm("DELETE", deviceUrl("adr-dev-c"));
    expect(deleted.status).toBe(202);
    expect(deleted.headers.get("location")).toMatch(/\/operationResults\//);
    expect((await arm("GET", deviceUrl("adr-dev-c"))).status).toBe(404);
    expect((await arm("DELETE", deviceUrl("adr-dev-c"))).status).toBe(204);
    await expect(sim.admin.get("/admin/devices/adr-dev-c")).rejects.toMatchObject({ statusCode: 404 });
  });

  it("serves both api-versions, each keeping its own in links; 2026-03-01-preview policies carry no location or tags", async () => {
    const policyUrl = `${namespaceUrl}/credentials/default/policies/default`;
    const older = (await arm("GET", `${policyUrl}?api-version=2025-11-01-preview`)).body;
    expect(older).toMatchObject({ location: expect.any(String), tags: {} });
    const current = await arm("GET", `${policyUrl}?api-version=2026-03-01-preview`);
    expect(current.status).toBe(200);
    expect(current.body).toMatchObject({ name: "default", properties: { provisioningState: "Succeeded" } });
    expect(current.body).not.toHaveProperty("location");
    expect(current.body).not.toHaveProperty("tags");

    const page = (await arm("GET", `${namespaceUrl}/devices?api-version=2026-03-01-preview&$top=1`)).body as {
      nextLink?: string;
    };
    expect(new URL(page.nextLink ?? "").searchParams.get("api-version")).toBe("2026-03-01-preview");
    const sync = await arm(
      "POST",
      `${namespaceUrl}/credentials/default/synchronize?api-version=2026-03-01-preview`,
    );
    expect(sync.headers.get("azure-asyncoperation")).toMatch(/^https:.*api-version=2026-03-01-preview$/);

    const unknown = await arm("GET", `${namespaceUrl}/devices?api-version=2024-11-01`);
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({
      error: {
        code: "NoRegisteredProviderFound",
        message: expect.stringContaining("2025-11-01-preview, 2026-03-01-preview"),
      },
    });
  });

  it("is served over HTTPS only: the plain HTTP admin port has no ARM routes", async () => {
    const plain = await fetch(`${sim.config.http.url}${new URL(namespaceUrl).pathname}/devices?${API}`, {
      headers: { authorization: `Bearer ${sim.config.adr.token}` },
    });
    expect(plain.status).toBe(404);
    expect(sim.config.adr.baseUrl).toBe(sim.config.https.url);
  });
});
