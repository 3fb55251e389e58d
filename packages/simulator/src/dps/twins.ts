// The device twin side of provisioning: the initial twin at first assignment, and migration or reset when
// reprovisioning moves a device to another hub. Called inside the registration's store transaction.
import { randomUUID } from "node:crypto";
import type { InitialTwin, Twin } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import type { TwinAction } from "./placement.ts";

interface Place {
  hub: string;
  deviceId: string;
}

function newTwin(target: Place, initial: InitialTwin | undefined, nowIso: string): Twin {
  return {
    hub: target.hub,
    deviceId: target.deviceId,
    tags: structuredClone(initial?.tags ?? {}),
    desired: structuredClone(initial?.properties.desired ?? {}),
    desiredVersion: 1,
    desiredUpdated: nowIso,
    reported: {},
    reportedVersion: 1,
    reportedUpdated: nowIso,
    version: 1,
    etag: randomUUID(),
  };
}

/** Applies `action` to the twin of the device now at `target` (previously at `from`, when it moved). */
export function applyTwinAction(
  store: Store,
  action: TwinAction,
  target: Place,
  from: Place | undefined,
  nowIso: string,
): void {
  if (action.kind === "keep") return;
  if (action.kind === "initial") {
    if (store.getTwin(target.hub, target.deviceId) === undefined && action.twin !== undefined) {
      store.putTwin(newTwin(target, action.twin, nowIso));
    }
    return;
  }
  const old = from === undefined ? undefined : store.getTwin(from.hub, from.deviceId);
  if (from !== undefined) store.deleteTwin(from.hub, from.deviceId);
  if (action.kind === "migrate") {
    if (old !== undefined) store.putTwin({ ...old, hub: target.hub, deviceId: target.deviceId });
    return;
  }
  store.deleteTwin(target.hub, target.deviceId);
  store.putTwin(newTwin(target, action.twin, nowIso));
}
