import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { Clock, LogFields, Logger } from "@skittlesorter/core";
import { openssl, tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it, vi } from "vitest";
import {
  type ArmHandler,
  armErrorAnswer,
  deviceResource,
  type RecordedRequest,
  startArmServer,
} from "./arm-server.test-support.ts";
import {
  ADR_API_VERSION,
  ADR_UPDATABLE_DEVICE_FIELDS,
  type AdrClientOptions,
  AdrError,
  createAdrClient,
  isAdrError,
  staticTokenCredential,
} from "./index.ts";

const TOKEN = "test-bearer-token-abc123";
const NS_PATH = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DeviceRegistry/namespaces/ns-1";

/** Records requested waits and fires them at once, so long-running tests are quick and their waits checkable. */
function recordingClock(): Clock & { waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    now: () => Date.now(),
    setTimeout: (callback, ms) => {
      waits.push(ms);
      return setTimeout(callback, 0);
    },
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  };
}

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (message: string, fields?: LogFields) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  };
  return { lines, debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

function clientFor(baseUrl: string, overrides: Partial<AdrClientOptions> = {}) {
  return createAdrClient({
    subscriptionId: "sub-1",
    resourceGroup: "rg-1",
    namespace: "ns-1",
    credential: staticTokenCredential(TOKEN),
    baseUrl,
    retryOptions: { maxRetries: 2, retryDelayMs: 5, maxRetryDelayMs: 20 },
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<AdrError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isAdrError(error)).toBe(true);
  return error as AdrError;
}

const route =
  (routes: Record<string, ArmHandler>): ArmHandler =>
  (request, server) => {
    const handler = routes[`${request.method} ${request.url.pathname}`];
    return handler === undefined
      ? armErrorAnswer(404, "NoRoute", `no route for ${request.method} ${request.url.pathname}`)
      : handler(request, server);
  };

describe("listing devices", () => {
  it("follows nextLink across three pages, with api-version, bearer token and user agent on every request", async () => {
    await using server = await startArmServer((request, self) => {
      const page = request.url.searchParams.get("page") ?? "1";
      const next = (n: number) =>
        `${self.baseUrl}${NS_PATH}/devices?api-version=${ADR_API_VERSION}&page=${n}`;
      if (page === "1")
        return {
          status: 200,
          body: { value: [deviceResource("dev-1"), deviceResource("dev-2")], nextLink: next(2) },
        };
      if (page === "2") return { status: 200, body: { value: [deviceResource("dev-3")], nextLink: next(3) } };
      return { status: 200, body: { value: [deviceResource("dev-4")] } };
    });
    const client = clientFor(server.baseUrl, { userAgentPrefix: "my-tool/9.9" });

    const devices = await client.listAllDevices();

    expect(devices.map((device) => device.name)).toEqual(["dev-1", "dev-2", "dev-3", "dev-4"]);
    expect(server.requests).toHaveLength(3);
    for (const request of server.requests) {
      expect(request.method).toBe("GET");
      expect(request.url.pathname).toBe(`${NS_PATH}/devices`);
      expect(request.url.searchParams.get("api-version")).toBe("2026-03-01-preview");
      expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request.headers["user-agent"]).toMatch(
        /^my-tool\/9\.9 skittlesorter-adr-client core-rest-pipeline\/\d/,
      );
      expect(request.headers["x-ms-client-request-id"]).toMatch(/\S/);
    }
    expect(server.requests.map((request) => request.url.searchParams.get("page"))).toEqual([null, "2", "3"]);
  });

  it("fetches pages lazily: breaking out of for-await stops the paging", async () => {
    await using server = await startArmServer((request, self) => ({
      status: 200,
      body: {
        value: [deviceResource(`dev-${request.url.searchParams.get("page") ?? "1"}`)],
        nextLink: `${self.baseUrl}${NS_PATH}/devices?api-version=${ADR_API_VERSION}&page=${Number(request.url.searchParams.get("page") ?? "1") + 1}`,
      },
    }));
    const seen: string[] = [];
    for await (const device of clientFor(server.baseUrl).listDevices()) {
      seen.push(device.name);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(["dev-1", "dev-2"]);
    expect(server.requests).toHaveLength(2);
  });

  it("refuses a nextLink to another origin without sending the token there", async () => {
    await using foreign = await startArmServer(() => ({ status: 200, body: { value: [] } }));
    await using server = await startArmServer(() => ({
      status: 200,
      body: { value: [deviceResource("dev-1")], nextLink: `${foreign.baseUrl}/steal?api-version=x` },
    }));
    const error = await rejection(clientFor(server.baseUrl).listAllDevices());
    expect(error.code).toBe("ADR_PROTOCOL_ERROR");
    expect(error.message).toContain("nextLink");
    expect(foreign.requests).toHaveLength(0);
  });

  it("rejects a page that is not { value: [...] }", async () => {
    await using server = await startArmServer(() => ({ status: 200, body: { devices: [] } }));
    expect((await rejection(clientFor(server.baseUrl).listAllDevices())).code).toBe("ADR_PROTOCOL_ERROR");
  });

  it("turns a 404 of the namespace into ADR_NOT_FOUND naming it", async () => {
    await using server = await startArmServer(() =>
      armErrorAnswer(
        404,
        "ResourceNotFound",
        "The Resource 'Microsoft.DeviceRegistry/namespaces/ns-1' was not found.",
      ),
    );
    const error = await rejection(clientFor(server.baseUrl).listAllDevices());
    expect(error).toMatchObject({
      code: "ADR_NOT_FOUND",
      statusCode: 404,
      armCode: "ResourceNotFound",
      requestId: "req-1",
    });
    expect(error.message).toContain('Namespace "ns-1"');
  });
});

describe("getting devices and policies", () => {
  it("returns the device, or undefined when ARM answers 404", async () => {
    await using server = await startArmServer(
      route({
        [`GET ${NS_PATH}/devices/dev-1`]: () => ({
          status: 200,
          body: deviceResource("dev-1", { model: "pi-5" }),
        }),
        [`GET ${NS_PATH}/devices/ghost`]: () =>
          armErrorAnswer(
            404,
            "ResourceNotFound",
            "The Resource 'Microsoft.DeviceRegistry/namespaces/ns-1/devices/ghost' was not found.",
          ),
      }),
    );
    const client = clientFor(server.baseUrl);
    expect((await client.getDevice("dev-1"))?.properties?.model).toBe("pi-5");
    expect(await client.getDevice("ghost")).toBeUndefined();
  });

  it("rejects with ADR_NOT_FOUND instead of undefined when the namespace itself is missing", async () => {
    await using server = await startArmServer(() =>
      armErrorAnswer(
        404,
        "ParentResourceNotFound",
        "Can not perform requested operation on nested resource. Parent resource 'ns-1' not found.",
      ),
    );
    const error = await rejection(clientFor(server.baseUrl).getDevice("dev-1"));
    expect(error).toMatchObject({ code: "ADR_NOT_FOUND", armCode: "ParentResourceNotFound" });
  });

  it("reads credential policies under credentials/default/policies", async () => {
    const policy = {
      id: `${NS_PATH}/credentials/default/policies/default`,
      name: "default",
      type: "Microsoft.DeviceRegistry/namespaces/credentials/policies",
      properties: {
        certificate: {
          certificateAuthorityConfiguration: { keyType: "ECC", subject: "CN=07b5d73a" },
          leafCertificateConfiguration: { validityPeriodInDays: 30 },
        },
        provisioningState: "Succeeded",
      },
    };
    await using server = await startArmServer(
      route({
        [`GET ${NS_PATH}/credentials/default/policies`]: () => ({ status: 200, body: { value: [policy] } }),
        [`GET ${NS_PATH}/credentials/default/policies/default`]: () => ({ status: 200, body: policy }),
        [`GET ${NS_PATH}/credentials/default/policies/other`]: () =>
          armErrorAnswer(404, "ResourceNotFound", "not found"),
      }),
    );
    const client = clientFor(server.baseUrl);
    expect(await client.listAllPolicies()).toEqual([policy]);
    expect(await client.getPolicy("default")).toEqual(policy);
    expect(await client.getPolicy("other")).toBeUndefined();
    expect(client.policyResourceId("default")).toBe(`${NS_PATH}/credentials/default/policies/default`);
  });
});

describe("errors", () => {
  it("maps 401 to ADR_UNAUTHORIZED with status, ARM code, message and request id, and never shows the token", async () => {
    await using server = await startArmServer(() =>
      armErrorAnswer(401, "InvalidAuthenticationToken", "The access token is invalid."),
    );
    const error = await rejection(clientFor(server.baseUrl).listAllDevices());
    expect(error).toMatchObject({
      code: "ADR_UNAUTHORIZED",
      statusCode: 401,
      armCode: "InvalidAuthenticationToken",
      armMessage: "The access token is invalid.",
      requestId: "req-1",
    });
    expect(error).toBeInstanceOf(AdrError);
    expect(error.message).toContain("The access token is invalid.");
    expect(`${error.message} ${JSON.stringify(error)}`).not.toContain(TOKEN);
    expect(server.requests).toHaveLength(1);
  });

  it("maps 403 to ADR_FORBIDDEN with a hint about roles", async () => {
    await using server = await startArmServer(() => armErrorAnswer(403, "AuthorizationFailed", "no access"));
    const error = await rejection(clientFor(server.baseUrl).getDevice("dev-1"));
    expect(error).toMatchObject({ code: "ADR_FORBIDDEN", statusCode: 403, armCode: "AuthorizationFailed" });
    expect(error.message).toContain("role");
  });

  it("retries a 429 after its Retry-After, then succeeds", async () => {
    const times: number[] = [];
    await using server = await startArmServer(() => {
      times.push(Date.now());
      return times.length === 1
        ? armErrorAnswer(429, "TooManyRequests", "slow down", { "retry-after": "1" })
        : { status: 200, body: deviceResource("dev-1") };
    });
    const device = await clientFor(server.baseUrl).getDevice("dev-1");
    expect(device?.name).toBe("dev-1");
    expect(server.requests).toHaveLength(2);
    // The pipeline waited the second the service asked for (lower bound only).
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(900);
    expect(server.requests[1]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("gives up on a persistent 429 with ADR_THROTTLED after maxRetries", async () => {
    await using server = await startArmServer(() =>
      armErrorAnswer(429, "TooManyRequests", "slow down", { "retry-after": "0" }),
    );
    const error = await rejection(clientFor(server.baseUrl).listAllDevices());
    expect(error).toMatchObject({ code: "ADR_THROTTLED", statusCode: 429 });
    expect(server.requests).toHaveLength(3);
  });

  it("retries 5xx with backoff and reports ADR_REQUEST_FAILED when they persist", async () => {
    await using server = await startArmServer(() => armErrorAnswer(500, "InternalServerError", "boom"));
    const error = await rejection(clientFor(server.baseUrl).getDevice("dev-1"));
    expect(error).toMatchObject({
      code: "ADR_REQUEST_FAILED",
      statusCode: 500,
      armCode: "InternalServerError",
    });
    expect(server.requests).toHaveLength(3);
  });

  it("reports ADR_CONNECTION_FAILED when nothing listens", async () => {
    const server = await startArmServer(() => ({ status: 200 }));
    await server.close();
    const error = await rejection(
      clientFor(server.baseUrl, { retryOptions: { maxRetries: 0 } }).getDevice("dev-1"),
    );
    expect(error.code).toBe("ADR_CONNECTION_FAILED");
  });

  it("reports ADR_CREDENTIAL_FAILED when the credential cannot produce a token, without sending anything", async () => {
    await using server = await startArmServer(() => ({ status: 200, body: { value: [] } }));
    const credential: TokenCredential = {
      getToken: async () => {
        throw Object.assign(new Error("Please run 'az login'"), { name: "CredentialUnavailableError" });
      },
    };
    const error = await rejection(clientFor(server.baseUrl, { credential }).listAllDevices());
    expect(error.code).toBe("ADR_CREDENTIAL_FAILED");
    expect(error.message).toContain("az login");
    expect(server.requests).toHaveLength(0);
  });

  it("rejects with signal.reason when aborted mid-request, and with ADR_TIMEOUT past timeoutMs", async () => {
    await using server = await startArmServer(() => ({
      status: 200,
      body: deviceResource("dev-1"),
      delayMs: 5000,
    }));
    const client = clientFor(server.baseUrl);
    const controller = new AbortController();
    const reason = new Error("user cancelled");
    const pending = client.getDevice("dev-1", { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);

    const error = await rejection(client.getDevice("dev-1", { timeoutMs: 50 }));
    expect(error.code).toBe("ADR_TIMEOUT");

    const aborted = AbortSignal.abort(new Error("already"));
    await expect(client.listAllDevices({ signal: aborted })).rejects.toThrow("already");
  });
});

describe("authentication", () => {
  it("asks for the ARM scope once and reuses the token until near expiry", async () => {
    await using server = await startArmServer(() => ({ status: 200, body: deviceResource("dev-1") }));
    const scopes: unknown[] = [];
    const credential: TokenCredential = {
      getToken: async (scope): Promise<AccessToken> => {
        scopes.push(scope);
        return { token: `t${scopes.length}`, expiresOnTimestamp: Date.now() + 3600_000 };
      },
    };
    const client = clientFor(server.baseUrl, { credential });
    await client.getDevice("dev-1");
    await client.getDevice("dev-1");
    await client.getDevice("dev-1");
    expect(scopes).toEqual([["https://management.azure.com/.default"]]);
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([
      "Bearer t1",
      "Bearer t1",
      "Bearer t1",
    ]);
  });

  it("fetches a new token when the cached one is about to expire", async () => {
    await using server = await startArmServer(() => ({ status: 200, body: deviceResource("dev-1") }));
    let calls = 0;
    const credential: TokenCredential = {
      getToken: async (): Promise<AccessToken> => {
        calls += 1;
        return { token: `t${calls}`, expiresOnTimestamp: Date.now() + 30_000 }; // inside the 2-minute refresh window
      },
    };
    const client = clientFor(server.baseUrl, { credential });
    await client.getDevice("dev-1");
    await client.getDevice("dev-1");
    expect(calls).toBe(2);
  });

  it("logs one line per attempt without the token", async () => {
    await using server = await startArmServer(() => ({ status: 200, body: { value: [] } }));
    const logger = memoryLogger();
    await clientFor(server.baseUrl, { logger }).listAllDevices();
    expect(
      logger.lines.some((line) => line.includes('"status":200') && line.includes("/devices?api-version=")),
    ).toBe(true);
    expect(logger.lines.join("\n")).not.toContain(TOKEN);
  });

  it("staticTokenCredential returns its token and refuses unusable ones", async () => {
    const token = await staticTokenCredential("abc", 1_900_000_000_000).getToken("scope");
    expect(token).toMatchObject({ token: "abc", expiresOnTimestamp: 1_900_000_000_000 });
    expect(() => staticTokenCredential("")).toThrow(AdrError);
    expect(() => staticTokenCredential("Bearer abc")).toThrow(/without the 'Bearer ' prefix/);
  });
});

describe("client options", () => {
  it("talks https with an extra trusted root (ca), and refuses the same server without it", async () => {
    await using dir = await tempDir();
    const key = join(dir.path, "key.pem");
    const cert = join(dir.path, "cert.pem");
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert,
    ]);
    const tls = { key: await readFile(key, "utf8"), cert: await readFile(cert, "utf8") };
    await using server = await startArmServer(() => ({ status: 200, body: deviceResource("dev-1") }), {
      tls,
    });
    expect(server.baseUrl).toMatch(/^https:/);

    const trusted = clientFor(server.baseUrl, { ca: tls.cert });
    expect((await trusted.getDevice("dev-1"))?.name).toBe("dev-1");
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);

    const untrusted = clientFor(server.baseUrl, { retryOptions: { maxRetries: 0 } });
    expect((await rejection(untrusted.getDevice("dev-1"))).code).toBe("ADR_CONNECTION_FAILED");
    expect(server.requests).toHaveLength(1);
  });

  it("reaches a loopback endpoint directly even when the environment names a proxy", async () => {
    await using server = await startArmServer(() => ({ status: 200, body: { value: [] } }));
    vi.stubEnv("HTTP_PROXY", "http://127.0.0.1:9");
    vi.stubEnv("HTTPS_PROXY", "http://127.0.0.1:9");
    try {
      const client = clientFor(server.baseUrl, { retryOptions: { maxRetries: 0 } });
      expect(await client.listAllDevices()).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(server.requests).toHaveLength(1);
  });

  it("refuses plain http to a remote host, and missing names", () => {
    const base = {
      subscriptionId: "s",
      resourceGroup: "r",
      namespace: "n",
      credential: staticTokenCredential("t"),
    };
    expect(() => createAdrClient({ ...base, baseUrl: "http://example.com" })).toThrow(/plain http/);
    expect(() => createAdrClient({ ...base, namespace: "" })).toThrow(/namespace is required/);
    expect(() => createAdrClient({ ...base, credential: {} as TokenCredential })).toThrow(/TokenCredential/);
    const client = createAdrClient({ ...base, baseUrl: "http://localhost:1234/" });
    expect(client.baseUrl).toBe("http://localhost:1234");
    expect(createAdrClient(base).baseUrl).toBe("https://management.azure.com");
  });
});

describe("updating devices", () => {
  it("refuses read-only, unknown and mistyped fields before sending anything, naming the field and the allowed ones", async () => {
    await using server = await startArmServer(() => ({ status: 200, body: deviceResource("dev-1") }));
    const client = clientFor(server.baseUrl);
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ manufacturer: "Contoso" }, "manufacturer", /set when the device is created/],
      [{ provisioningState: "Succeeded" }, "provisioningState", /read-only/],
      [{ colour: "red" }, "colour", /not a device field/],
      [{ properties: { enabled: false } }, "properties", /top level/],
      [{ enabled: "yes" }, "enabled", /true or false/],
      [{ tags: { site: 1 } }, "tags", /string values/],
      [{}, "patch", /changes nothing/],
    ];
    for (const [patch, field, reason] of cases) {
      const error = await rejection(client.updateDevice("dev-1", patch));
      expect(error).toMatchObject({ code: "ADR_INVALID_PATCH", field });
      expect(error.message).toMatch(reason);
      if (["manufacturer", "provisioningState", "colour", "properties"].includes(field))
        expect(error.message).toContain(ADR_UPDATABLE_DEVICE_FIELDS.join(", "));
    }
    expect(server.requests).toHaveLength(0);
  });

  it("PATCHes { tags, properties } as JSON and returns the device of a 200, leaving the input untouched", async () => {
    await using server = await startArmServer((request) => {
      const patch = JSON.parse(request.body) as {
        tags: Record<string, string>;
        properties: Record<string, unknown>;
      };
      return { status: 200, body: deviceResource("dev-1", patch.properties, patch.tags) };
    });
    const patch = Object.freeze({
      enabled: false,
      operatingSystemVersion: "12.4",
      attributes: Object.freeze({ colour: "red", bins: 6 }),
      policy: Object.freeze({ resourceId: `${NS_PATH}/credentials/default/policies/default` }),
      tags: Object.freeze({ site: "lab" }),
    });
    const device = await clientFor(server.baseUrl).updateDevice("dev-1", patch);

    const [request] = server.requests;
    expect(request?.method).toBe("PATCH");
    expect(request?.url.pathname).toBe(`${NS_PATH}/devices/dev-1`);
    expect(request?.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(JSON.parse(request?.body ?? "")).toEqual({
      tags: { site: "lab" },
      properties: {
        enabled: false,
        operatingSystemVersion: "12.4",
        attributes: { colour: "red", bins: 6 },
        policy: { resourceId: `${NS_PATH}/credentials/default/policies/default` },
      },
    });
    expect(device.properties).toMatchObject({ enabled: false, attributes: { colour: "red", bins: 6 } });
    expect(device.tags).toEqual({ site: "lab" });
    expect(server.requests).toHaveLength(1);
  });

  it("waits for a long-running PATCH (202 + Azure-AsyncOperation), honouring Retry-After, then returns the device", async () => {
    let state = deviceResource("dev-1");
    let polls = 0;
    await using server = await startArmServer(
      route({
        [`PATCH ${NS_PATH}/devices/dev-1`]: (request, self) => {
          const patch = JSON.parse(request.body) as {
            properties: Record<string, unknown>;
            tags: Record<string, string>;
          };
          state = deviceResource("dev-1", patch.properties, patch.tags);
          return {
            status: 202,
            headers: {
              "azure-asyncoperation": `${self.baseUrl}/providers/Microsoft.DeviceRegistry/locations/northeurope/operationStatuses/op-1?api-version=${ADR_API_VERSION}`,
              location: `${self.baseUrl}/providers/Microsoft.DeviceRegistry/locations/northeurope/operationResults/op-1?api-version=${ADR_API_VERSION}`,
              "retry-after": "3",
            },
          };
        },
        "GET /providers/Microsoft.DeviceRegistry/locations/northeurope/operationStatuses/op-1": () => {
          polls += 1;
          return polls < 3
            ? { status: 200, body: { status: "InProgress" }, headers: { "retry-after": String(polls) } }
            : { status: 200, body: { status: "Succeeded" } };
        },
        [`GET ${NS_PATH}/devices/dev-1`]: () => ({ status: 200, body: state }),
      }),
    );
    const clock = recordingClock();
    const device = await clientFor(server.baseUrl, { clock }).updateDevice("dev-1", {
      attributes: { colour: "green" },
      tags: { site: "kitchen" },
    });

    expect(device.properties?.attributes).toEqual({ colour: "green" });
    expect(device.tags).toEqual({ site: "kitchen" });
    expect(clock.waits).toEqual([3000, 1000, 2000]);
    expect(
      server.requests.map((request) => `${request.method} ${request.url.pathname.split("/").at(-1)}`),
    ).toEqual(["PATCH dev-1", "GET op-1", "GET op-1", "GET op-1", "GET dev-1"]);
    expect(server.requests.every((request) => request.headers.authorization === `Bearer ${TOKEN}`)).toBe(
      true,
    );
  });

  it("reports ADR_LRO_FAILED with the operation's ARM error when the PATCH ends Failed", async () => {
    await using server = await startArmServer(
      route({
        [`PATCH ${NS_PATH}/devices/dev-1`]: (_request, self) => ({
          status: 202,
          headers: { "azure-asyncoperation": `${self.baseUrl}/operations/op-2`, "retry-after": "0" },
        }),
        "GET /operations/op-2": () => ({
          status: 200,
          body: { status: "Failed", error: { code: "DeviceUpdateFailed", message: "policy does not exist" } },
        }),
      }),
    );
    const error = await rejection(clientFor(server.baseUrl).updateDevice("dev-1", { enabled: true }));
    expect(error).toMatchObject({
      code: "ADR_LRO_FAILED",
      armCode: "DeviceUpdateFailed",
      armMessage: "policy does not exist",
      operationStatus: "Failed",
    });
  });

  it("maps a PATCH of a missing device to ADR_NOT_FOUND", async () => {
    await using server = await startArmServer(() => armErrorAnswer(404, "ResourceNotFound", "not found"));
    const error = await rejection(clientFor(server.baseUrl).updateDevice("ghost", { enabled: true }));
    expect(error).toMatchObject({ code: "ADR_NOT_FOUND", statusCode: 404 });
    expect(error.message).toContain('Device "ghost"');
  });
});

describe("deleting devices and synchronizing credentials", () => {
  it("deletes with 202 + Location polling (true), and reports 204 as nothing deleted (false)", async () => {
    let polls = 0;
    const deleted: string[] = [];
    await using server = await startArmServer(
      route({
        [`DELETE ${NS_PATH}/devices/dev-1`]: (_request, self) => {
          deleted.push("dev-1");
          return {
            status: 202,
            headers: { location: `${self.baseUrl}/operationResults/del-1`, "retry-after": "0" },
          };
        },
        "GET /operationResults/del-1": () => {
          polls += 1;
          return polls < 2 ? { status: 202, headers: { "retry-after": "0" } } : { status: 204 };
        },
        [`DELETE ${NS_PATH}/devices/ghost`]: () => ({ status: 204 }),
      }),
    );
    const client = clientFor(server.baseUrl);
    expect(await client.deleteDevice("dev-1")).toBe(true);
    expect(polls).toBe(2);
    expect(await client.deleteDevice("ghost")).toBe(false);
    expect(deleted).toEqual(["dev-1"]);
  });

  it("reports ADR_NOT_FOUND when deleting in a missing namespace", async () => {
    await using server = await startArmServer(() =>
      armErrorAnswer(404, "ParentResourceNotFound", "namespace gone"),
    );
    const error = await rejection(clientFor(server.baseUrl).deleteDevice("dev-1"));
    expect(error).toMatchObject({ code: "ADR_NOT_FOUND", armCode: "ParentResourceNotFound" });
  });

  it("synchronizes credentials with POST …/credentials/default/synchronize and waits for the operation", async () => {
    const calls: RecordedRequest[] = [];
    await using server = await startArmServer(
      route({
        [`POST ${NS_PATH}/credentials/default/synchronize`]: (request, self) => {
          calls.push(request);
          return { status: 202, headers: { location: `${self.baseUrl}/operationResults/sync-1` } };
        },
        "GET /operationResults/sync-1": () => ({ status: 200 }),
      }),
    );
    const clock = recordingClock();
    await clientFor(server.baseUrl, { clock, pollIntervalMs: 1234 }).synchronizeCredentials();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url.searchParams.get("api-version")).toBe(ADR_API_VERSION);
    expect(clock.waits).toEqual([1234]);
    expect(server.requests).toHaveLength(2);
  });

  it("refuses a 202 without anything to poll", async () => {
    await using server = await startArmServer(() => ({ status: 202 }));
    const error = await rejection(clientFor(server.baseUrl).synchronizeCredentials());
    expect(error.code).toBe("ADR_PROTOCOL_ERROR");
    expect(error.message).toContain("Azure-AsyncOperation");
  });
});
