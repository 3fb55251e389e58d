// ADR credential policies: each has its own issuing CA under the namespace's credential root.
import type { SimContext } from "../state/context.ts";
import type { AdrPolicy } from "../state/model.ts";
import { createIssuingCa } from "../state/pki.ts";

/** Creates or updates an ADR credential policy (a new one gets its own EC P-384 issuing CA). */
export async function putPolicy(context: SimContext, name: string, validityDays: number): Promise<AdrPolicy> {
  const { store } = context;
  const existing = store.getPolicy(context.adrNamespace, name);
  if (existing !== undefined) {
    const updated = { ...existing, validityDays };
    store.putPolicy(updated);
    store.addEvent(context.nowIso(), "policy.updated", name, { validityDays });
    return updated;
  }
  const namespace = store.getMeta<{ rootCaPem: string; rootKeyFile: string }>("adrNamespace");
  if (namespace === undefined) throw new Error("ADR namespace missing from the store");
  const issuing = await createIssuingCa(
    context.vault,
    context.adrNamespace,
    name,
    { certificatePem: namespace.rootCaPem, privateKey: await context.vault.key(namespace.rootKeyFile) },
    context.clock,
  );
  const policy: AdrPolicy = {
    namespace: context.adrNamespace,
    name,
    validityDays,
    issuingCaPem: issuing.certificatePem,
    keyFile: issuing.keyFile,
    created: context.nowIso(),
  };
  store.putPolicy(policy);
  store.addEvent(policy.created, "policy.created", name, { validityDays });
  return policy;
}
