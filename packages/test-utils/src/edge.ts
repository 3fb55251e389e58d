// In an edge test (`*.edge.test.ts`, run by a vitest config with ./edge-setup as globalSetup): the TLS root this
// process trusts through NODE_EXTRA_CA_CERTS, to start a simulator whose server certificate it issued.
import { inject } from "vitest";

export const EDGE_TLS_ROOT_KEY = "skittlesorterEdgeTlsRoot";

/** A CA certificate and its private key, PEM (the simulator's `tlsRoot` option). */
export interface EdgeTlsRoot {
  certificatePem: string;
  privateKeyPem: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    [EDGE_TLS_ROOT_KEY]: EdgeTlsRoot;
  }
}

/** The edge group's TLS root; throws outside it (a test file not named `*.edge.test.ts`). */
export function edgeTlsRoot(): EdgeTlsRoot {
  const root = inject(EDGE_TLS_ROOT_KEY);
  if (root === undefined) {
    throw new Error(
      "No edge TLS root: edge tests must be in *.edge.test.ts files, run by the package's vitest.edge.config.ts " +
        "(pnpm test runs it), whose globalSetup creates the root.",
    );
  }
  return root;
}
