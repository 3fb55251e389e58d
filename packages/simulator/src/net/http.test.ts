import { get as httpsGet } from "node:https";
import { noopLogger } from "@skittlesorter/core";
import { describe, expect, it } from "vitest";
import { SimulatorError, serviceError } from "../errors.ts";
import { startSimulator } from "../simulator.ts";
import { HttpError, httpAnswerOf, isHttpError } from "./http.ts";

describe("httpAnswerOf: the one place domain errors meet HTTP statuses", () => {
  it.each([
    ["SIM_INVALID_REQUEST", "TWIN_TOO_LARGE", 400],
    ["SIM_NOT_FOUND", "DEVICE_NOT_FOUND", 404],
    ["SIM_DEVICE_NOT_ONLINE", "DEVICE_NOT_ONLINE", 404],
    ["SIM_CONFLICT", "ENROLLMENT_EXISTS", 409],
    ["SIM_PRECONDITION_FAILED", "ETAG_MISMATCH", 412],
    ["SIM_TIMEOUT", "METHOD_TIMEOUT", 504],
  ] as const)("%s answers %i with the service's own code", (code, errorCode, status) => {
    expect(httpAnswerOf(serviceError(code, errorCode, "what went wrong"))).toEqual({
      status,
      code: errorCode,
      message: "what went wrong",
      headers: {},
    });
  });

  it("passes the HTTP layer's own errors through, and leaves the rest to the 500 path", () => {
    const own = new HttpError(403, "HOST_NOT_ALLOWED", "no", { vary: "host" });
    expect(isHttpError(own)).toBe(true);
    expect(httpAnswerOf(own)).toEqual({
      status: 403,
      code: "HOST_NOT_ALLOWED",
      message: "no",
      headers: { vary: "host" },
    });
    expect(httpAnswerOf(new SimulatorError("SIM_START_FAILED", "not a request problem"))).toBeUndefined();
    expect(httpAnswerOf(new Error("boom"))).toBeUndefined();
    expect(isHttpError(Object.assign(new Error("x"), { code: "NOT_FOUND" }))).toBe(false);
  });
});

describe("the Azure REST APIs over TLS", () => {
  it("serve HTTPS on sim.json https.url with the simulator's certificate, answering unknown paths with 404", async () => {
    await using sim = await startSimulator({ logger: noopLogger });
    const url = new URL(`${sim.config.https.url}/no-such-api/nothing-here`);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpsGet(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          ca: sim.config.trustedCa,
          servername: "localhost",
        },
        (response) => {
          let body = "";
          response.on("data", (chunk: Buffer) => {
            body += chunk.toString();
          });
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on("error", reject);
    });
    expect(url.protocol).toBe("https:");
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "NOT_FOUND" } });
  });
});
