// Where a registering device goes and what its twin becomes: the allocation policy (custom: the webhook), then the
// reprovisioning policy (docs `iot-dps/concepts-device-reprovision.md`) and the initial twin.
import type { Enrollment, InitialTwin, LinkedHub, Registration, Substatus } from "../state/model.ts";
import { allocate, candidateHubs, reprovision } from "./allocation.ts";
import type { Attested } from "./attest.ts";
import {
  allocateWithWebhook,
  CustomAllocationError,
  type DeviceRuntimeContext,
  type WebhookOptions,
} from "./custom-allocation.ts";
import { enrollmentToWire } from "./service-api/wire.ts";

/** What happens to the device's twin on the hub it is assigned to. */
export type TwinAction =
  | { kind: "keep" }
  /** First assignment: the initial twin, unless the hub already has one. */
  | { kind: "initial"; twin: InitialTwin | undefined }
  /** Moved with reset (or the webhook gave a twin): the old twin goes, the new one starts from `twin`. */
  | { kind: "reset"; twin: InitialTwin | undefined }
  /** Moved with its data: the old hub's twin moves along. */
  | { kind: "migrate" };

export interface Placement {
  hub: LinkedHub;
  substatus: Substatus;
  twin: TwinAction;
  /** The custom allocation webhook's payload for the device. */
  payload?: unknown;
}

export interface PlacementFailure {
  errorCode: number;
  message: string;
}

/** DPS's registration error codes for allocation failures (detail digits: best reading, not a documented list). */
export const AllocationErrorCode = Object.freeze({
  noHub: 400300,
  customAllocationFailed: 400209,
});

export interface PlacementInput {
  enrollment: Enrollment;
  hubs: readonly LinkedHub[];
  registrationId: string;
  previous: Registration | undefined;
  attested: Attested;
  /** The `payload` the device sent with its register request. */
  requestPayload: unknown;
  webhook: WebhookOptions;
}

function runtimeContext(input: PlacementInput, previousHub: LinkedHub | undefined): DeviceRuntimeContext {
  const { attested, previous, registrationId, requestPayload } = input;
  const context: DeviceRuntimeContext = { registrationId };
  if (previousHub !== undefined) context.currentIotHubHostName = previousHub.hostname;
  if (previousHub !== undefined && previous?.deviceId !== undefined)
    context.currentDeviceId = previous.deviceId;
  if (attested.type === "symmetricKey") context.symmetricKey = {};
  else {
    context.x509 = {
      ...(attested.certificateInfo === undefined ? {} : { clientCertificate: attested.certificateInfo }),
      ...(attested.signingCertificateInfo === undefined
        ? {}
        : { signingCertificate: attested.signingCertificateInfo }),
    };
  }
  if (requestPayload !== undefined) context.payload = requestPayload;
  return context;
}

function assignedHubOf(
  previous: Registration | undefined,
  hubs: readonly LinkedHub[],
): LinkedHub | undefined {
  if (previous?.status !== "assigned" && previous?.status !== "disabled") return undefined;
  return hubs.find((hub) => hub.name === previous.hub);
}

/** Picks the hub (calling the webhook for custom allocation) and says what happens to the twin. */
export async function place(input: PlacementInput): Promise<Placement | PlacementFailure> {
  const { enrollment, hubs, registrationId, previous } = input;
  const previousHub = assignedHubOf(previous, hubs);
  let chosen: LinkedHub;
  let custom: { initialTwin?: InitialTwin; payload?: unknown } = {};
  if (enrollment.allocationPolicy === "custom" && enrollment.customAllocationDefinition !== undefined) {
    const linkedHubs = candidateHubs(enrollment, hubs);
    try {
      const result = await allocateWithWebhook(
        enrollment.customAllocationDefinition,
        {
          enrollment: {
            kind: enrollment.kind,
            wire: enrollmentToWire(enrollment, hubs, { includeKeys: false }),
          },
          deviceRuntimeContext: runtimeContext(input, previousHub),
          linkedHubs,
        },
        input.webhook,
      );
      chosen = result.hub;
      custom = result;
    } catch (error) {
      if (!(error instanceof CustomAllocationError)) throw error;
      return { errorCode: AllocationErrorCode.customAllocationFailed, message: error.message };
    }
  } else {
    const picked = allocate(enrollment, hubs, registrationId);
    if (typeof picked === "string") return { errorCode: AllocationErrorCode.noHub, message: picked };
    chosen = picked;
  }
  const { hub, substatus } = reprovision(enrollment, hubs, chosen, previous);
  const placement: Placement = {
    hub,
    substatus,
    twin: twinAction(input, previousHub, hub, custom.initialTwin),
  };
  if (custom.payload !== undefined) placement.payload = custom.payload;
  return placement;
}

function twinAction(
  input: PlacementInput,
  previousHub: LinkedHub | undefined,
  hub: LinkedHub,
  webhookTwin: InitialTwin | undefined,
): TwinAction {
  const initial = webhookTwin ?? input.enrollment.initialTwin;
  if (previousHub === undefined) return { kind: "initial", twin: initial };
  if (previousHub.name === hub.name) return { kind: "keep" };
  // A twin from the webhook wins over migration (docs: it "overrides twin migration and enrollment settings").
  if (input.enrollment.reprovisionPolicy.migrateDeviceData && webhookTwin === undefined)
    return { kind: "migrate" };
  return { kind: "reset", twin: initial };
}
