import { webcrypto } from "node:crypto";
import { createRequire } from "node:module";

// Both libraries are loaded on first use, not at import time: @peculiar/x509 needs the
// `reflect-metadata` polyfill installed first (its DI container, tsyringe, refuses to load without it).
type X509Module = typeof import("@peculiar/x509");
type ForgeModule = typeof import("node-forge");

let x509Module: X509Module | undefined;
let forgeModule: ForgeModule | undefined;

/** Node's WebCrypto, handed explicitly to every @peculiar/x509 call. */
export const nodeCrypto = (): webcrypto.Crypto => webcrypto;

export function x509(): X509Module {
  if (x509Module === undefined) {
    const require = createRequire(import.meta.url);
    require("reflect-metadata");
    const loaded = require("@peculiar/x509") as X509Module;
    loaded.cryptoProvider.set(nodeCrypto());
    x509Module = loaded;
  }
  return x509Module;
}

export function forge(): ForgeModule {
  if (forgeModule === undefined) {
    const require = createRequire(import.meta.url);
    forgeModule = require("node-forge") as ForgeModule;
  }
  return forgeModule;
}
