// Types for scripts/check-changeset.mjs (plain JavaScript so that CI runs it with node, before any install).
export interface PublishedPackage {
  dir: string;
  name: string;
}
export function publishedPackages(root: string): PublishedPackage[];
export function changesetPackages(text: string): string[] | undefined;
export function packagesMissingChangesets(input: {
  changedFiles: readonly string[];
  packages: readonly PublishedPackage[];
  changesets: readonly { file: string; text: string }[];
}): PublishedPackage[];
export function checkChangesets(root: string, base: string): { missing: PublishedPackage[]; message: string };
