// packages/hub-mqtt/README.md documents every option of `HubClientOptions` / `ConnectHubOptions` and every
// `HubErrorCode`: a new option or error code without a row in its table fails here.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./repo.ts";

const packageDir = join(repoRoot, "packages", "hub-mqtt");
const read = (path: string): Promise<string> => readFile(join(packageDir, path), "utf8");

/** The body of `export interface NAME … { … }` in `source`. */
function interfaceBody(source: string, name: string): string {
  const match = new RegExp(`export interface ${name}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`).exec(source);
  if (match?.[1] === undefined) throw new Error(`interface ${name} not found`);
  return match[1];
}

/** Member names of an interface body (top level only: no nested object members). */
const memberNames = (body: string): string[] =>
  [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??:/gm)].map((match) => match[1] as string);

/** The README section under `heading`, up to the next heading of the same or a higher level. */
function section(readme: string, heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`README section ${heading} not found`);
  const level = heading.split(" ")[0] as string;
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return end === -1 ? rest : rest.slice(0, end);
}

/** The first cell of each table row in `text`. */
const firstCells = (text: string): string =>
  [...text.matchAll(/^\| ([^|]+) \|/gm)].map((match) => match[1] as string).join("\n");

describe("the hub-mqtt README's tables are complete", () => {
  it("has a row for every option", async () => {
    const client = await read("src/client.ts");
    const options = [
      ...memberNames(interfaceBody(client, "HubClientOptions")),
      ...memberNames(interfaceBody(client, "ConnectHubOptions")),
    ];
    expect(options).toEqual(expect.arrayContaining(["hostName", "renewalTimeoutMs", "signal"]));
    const rows = firstCells(section(await read("README.md"), "### Options"));
    const missing = options.filter((name) => !rows.includes(`\`${name}\``));
    expect(missing, "options without a row in README.md ### Options").toEqual([]);
  });

  it("has a row for every error code", async () => {
    const errors = await read("src/errors.ts");
    const union = /export type HubErrorCode =([\s\S]*?);\n/.exec(errors)?.[1] ?? "";
    const codes = [...union.matchAll(/\| "(\w+)"/g)].map((match) => match[1] as string);
    expect(codes).toEqual(expect.arrayContaining(["HUB_RENEWAL_IN_PROGRESS", "HUB_ISSUED_CHAIN_INVALID"]));
    const rows = firstCells(section(await read("README.md"), "## Errors"));
    const missing = codes.filter((code) => !rows.includes(`\`${code}\``));
    expect(missing, "error codes without a row in README.md ## Errors").toEqual([]);
  });
});
