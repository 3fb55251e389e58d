export {
  aptChromiumPackage,
  type BrowserSearch,
  browserCandidates,
  type FindBrowserOptions,
  findBrowser,
} from "./browser.ts";
export { errorFromAnotherCopy, errorLookAlikes } from "./error-guards.ts";
export { modulesLoadedByImport } from "./import-check.ts";
export { type OpensslResult, openssl } from "./openssl.ts";
export { type TempDir, tempDir } from "./temp-dir.ts";
