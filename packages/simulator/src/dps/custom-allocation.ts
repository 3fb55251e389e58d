// Custom allocation: DPS POSTs an allocation request to the enrollment's webhook (an Azure Function in Azure) and
// assigns the device to the hub it answers, with its initial twin and payload. Shapes: docs
// `iot-dps/concepts-custom-allocation.md`.
import type { CustomAllocationDefinition, InitialTwin, LinkedHub } from "../state/model.ts";
import { initialTwinOf } from "./enrollment-spec.ts";

/** The allocation request's `deviceRuntimeContext`. */
export interface DeviceRuntimeContext {
  registrationId: string;
  currentIotHubHostName?: string;
  currentDeviceId?: string;
  symmetricKey?: Record<string, never>;
  x509?: Record<string, unknown>;
  payload?: unknown;
}

export interface AllocationRequest {
  /** The enrollment as the DPS service REST answers it, without keys, under `enrollmentGroup` or `individualEnrollment`. */
  enrollment: { kind: "group" | "individual"; wire: Record<string, unknown> };
  deviceRuntimeContext: DeviceRuntimeContext;
  /** The hubs the webhook may choose from. */
  linkedHubs: readonly LinkedHub[];
}

export interface AllocationResult {
  hub: LinkedHub;
  initialTwin?: InitialTwin;
  payload?: unknown;
}

/** Why the webhook gave no usable answer; the registration fails with this message. */
export class CustomAllocationError extends Error {
  override readonly name = "CustomAllocationError";
}

export interface WebhookOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** Calls the webhook; throws {@link CustomAllocationError} when it fails, times out or answers no linked hub. */
export async function allocateWithWebhook(
  definition: CustomAllocationDefinition,
  request: AllocationRequest,
  options: WebhookOptions,
): Promise<AllocationResult> {
  const body = {
    [request.enrollment.kind === "group" ? "enrollmentGroup" : "individualEnrollment"]:
      request.enrollment.wire,
    deviceRuntimeContext: request.deviceRuntimeContext,
    linkedHubs: request.linkedHubs.map((hub) => hub.hostname),
  };
  const signals = [
    AbortSignal.timeout(options.timeoutMs),
    ...(options.signal === undefined ? [] : [options.signal]),
  ];
  let response: Response;
  try {
    response = await fetch(definition.webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", accept: "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.any(signals),
    });
  } catch (error) {
    const timedOut = (error as Error).name === "TimeoutError";
    throw new CustomAllocationError(
      timedOut
        ? `The custom allocation webhook did not answer within ${options.timeoutMs} ms.`
        : `The custom allocation webhook cannot be reached: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message}.`,
    );
  }
  const text = await response.text();
  if (!response.ok) {
    throw new CustomAllocationError(`The custom allocation webhook answered HTTP ${response.status}.`);
  }
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CustomAllocationError("The custom allocation webhook's answer is not JSON.");
  }
  return resultOf(answer, request.linkedHubs);
}

function resultOf(answer: Record<string, unknown>, linkedHubs: readonly LinkedHub[]): AllocationResult {
  if (answer === null || typeof answer !== "object" || Array.isArray(answer)) {
    throw new CustomAllocationError("The custom allocation webhook's answer is not a JSON object.");
  }
  // The docs' table spells it iotHubHostname, their JSON iotHubHostName: both are taken.
  const hostName = answer.iotHubHostName ?? answer.iotHubHostname;
  const hub =
    typeof hostName === "string"
      ? linkedHubs.find((item) => item.hostname.toLowerCase() === hostName.toLowerCase())
      : undefined;
  if (hub === undefined) {
    throw new CustomAllocationError(
      `The custom allocation webhook chose ${JSON.stringify(hostName ?? null)}, which is not one of the linked hubs it was offered.`,
    );
  }
  const result: AllocationResult = { hub };
  try {
    const twin = initialTwinOf(answer.initialTwin);
    if (twin !== undefined && twin !== null) result.initialTwin = twin;
  } catch (error) {
    throw new CustomAllocationError(
      `The custom allocation webhook's initialTwin: ${(error as Error).message}`,
    );
  }
  if (answer.payload !== undefined && answer.payload !== null) result.payload = answer.payload;
  return result;
}
