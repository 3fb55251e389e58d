// Which linked hub a registration goes to: the enrollment's allocation policy, then its reprovisioning policy.
import { createHash } from "node:crypto";
import { validateRegistrationId } from "@skittlesorter/attestation";
import type { Enrollment, LinkedHub, Registration, Substatus } from "../state/model.ts";

/** The linked hubs an enrollment may use: its `iotHubs`, else every hub that applies the allocation policy. */
export function candidateHubs(enrollment: Enrollment, hubs: readonly LinkedHub[]): LinkedHub[] {
  return enrollment.iotHubs === undefined
    ? hubs.filter((hub) => hub.applyAllocationPolicy)
    : hubs.filter((hub) => enrollment.iotHubs?.includes(hub.name));
}

/**
 * Picks the hub for the built-in policies: `static` → the enrollment's hub; `hashed` → weighted by
 * `allocationWeight` over the candidate hubs, keyed by a hash of the registration id (stable across restarts);
 * `geoLatency` → the simulator's own hub when it is a candidate (the one nearest the device), else as `hashed`.
 * Returns an error message when no hub can be chosen. `custom` is the webhook's (custom-allocation.ts).
 */
export function allocate(
  enrollment: Enrollment,
  hubs: readonly LinkedHub[],
  registrationId: string,
): LinkedHub | string {
  if (enrollment.allocationPolicy === "static") {
    const hub = hubs.find((item) => item.name === enrollment.staticHub);
    return (
      hub ??
      `The enrollment "${enrollment.id}" uses static allocation to hub "${enrollment.staticHub ?? "(none)"}", which is not linked to this DPS.`
    );
  }
  const candidates = candidateHubs(enrollment, hubs).filter((hub) => hub.allocationWeight > 0);
  if (candidates.length === 0) {
    return `No linked IoT hub can take registrations of enrollment "${enrollment.id}"; link a hub (weight > 0) or fix the enrollment's iotHubs.`;
  }
  if (enrollment.allocationPolicy === "geoLatency") {
    const nearest = candidates.find((hub) => hub.local);
    if (nearest !== undefined) return nearest;
  }
  const total = candidates.reduce((sum, hub) => sum + hub.allocationWeight, 0);
  const digest = createHash("sha256").update(validateRegistrationId(registrationId)).digest();
  let point = digest.readUInt32BE(0) % total;
  for (const hub of candidates) {
    if (point < hub.allocationWeight) return hub;
    point -= hub.allocationWeight;
  }
  return candidates[candidates.length - 1] as LinkedHub;
}

/**
 * Where a re-registering device goes, and the substatus DPS reports: the allocation's choice, unless the enrollment
 * keeps devices where they are (`updateHubAssignment: false`).
 */
export function reprovision(
  enrollment: Enrollment,
  hubs: readonly LinkedHub[],
  chosen: LinkedHub,
  previous: Registration | undefined,
): { hub: LinkedHub; substatus: Substatus } {
  const previousHub =
    previous?.status === "assigned" || previous?.status === "disabled" ? previous.hub : undefined;
  if (previousHub === undefined) return { hub: chosen, substatus: "initialAssignment" };
  if (previousHub === chosen.name)
    return { hub: chosen, substatus: previous?.substatus ?? "initialAssignment" };
  const stay = hubs.find((item) => item.name === previousHub);
  if (!enrollment.reprovisionPolicy.updateHubAssignment && stay !== undefined) {
    return { hub: stay, substatus: previous?.substatus ?? "initialAssignment" };
  }
  if (previous?.hubHistory.includes(chosen.name))
    return { hub: chosen, substatus: "reprovisionedToInitialAssignment" };
  return {
    hub: chosen,
    substatus: enrollment.reprovisionPolicy.migrateDeviceData ? "deviceDataMigrated" : "deviceDataReset",
  };
}
