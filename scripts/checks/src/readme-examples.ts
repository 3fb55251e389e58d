import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "./repo.ts";

/**
 * What the README-examples test does with a code block, chosen by an HTML comment on the line(s) before it:
 * - TypeScript/JavaScript blocks run, unless marked `<!-- example: needs hardware (…): type-checked, not run -->`
 *   or, for what the simulator cannot do yet, `<!-- example: needs … (not yet in skittle-sim): type-checked, not run -->`
 *   (TypeScript is type-checked either way);
 * - shell blocks are reference (install commands, synopses) unless marked `<!-- example: run -->`, which runs them
 *   before the blocks that follow them, e.g. to make the files an example reads.
 */
export type ExampleMode = "run" | "type-check" | "reference";

export interface Example {
  /** The README, relative to the repository root. */
  readme: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: "ts" | "js" | "sh";
  code: string;
  mode: ExampleMode;
}

const LANGS: Readonly<Record<string, Example["lang"]>> = {
  ts: "ts",
  typescript: "ts",
  js: "js",
  javascript: "js",
  sh: "sh",
  bash: "sh",
  shell: "sh",
};

/** The ts/js/sh code blocks of one README, in order. */
export function extractExamples(markdown: string, readme: string): Example[] {
  const lines = markdown.split("\n");
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] ?? "");
    if (open === null) continue;
    const end = lines.findIndex((line, j) => j > i && /^```\s*$/.test(line));
    if (end === -1) throw new Error(`${readme}:${i + 1}: code block is never closed`);
    const lang = LANGS[(open[1] ?? "").toLowerCase()];
    if (lang !== undefined) {
      let k = i - 1;
      while (k >= 0 && (lines[k] ?? "").trim() === "") k--;
      const directive = /^<!--\s*example:\s*(.*?)\s*-->$/.exec((lines[k] ?? "").trim())?.[1];
      examples.push({
        readme,
        line: i + 1,
        lang,
        code: `${lines.slice(i + 1, end).join("\n")}\n`,
        mode: modeOf(lang, directive, `${readme}:${i + 1}`),
      });
    }
    i = end;
  }
  return examples;
}

/** Why a TypeScript example is only type-checked: real hardware, or a simulator gap that names itself as such. */
const TYPE_CHECK_ONLY = /^needs (?:hardware \(.+\)|.+ \(not yet in skittle-sim\)): type-checked, not run$/;

function modeOf(lang: Example["lang"], directive: string | undefined, where: string): ExampleMode {
  if (directive === undefined) return lang === "sh" ? "reference" : "run";
  if (directive === "run") return "run";
  if (lang === "ts" && TYPE_CHECK_ONLY.test(directive)) return "type-check";
  throw new Error(
    `${where}: unknown example directive "${directive}": use "run" (shell), or for TypeScript ` +
      `"needs hardware (what): type-checked, not run" or "needs what (not yet in skittle-sim): type-checked, not run"`,
  );
}

/** Every package's and app's README. */
export function readmes(): string[] {
  return ["packages", "apps"].flatMap((group) =>
    readdirSync(join(repoRoot, group), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(repoRoot, group, entry.name, "README.md"))
      .filter((path) => {
        try {
          readFileSync(path);
          return true;
        } catch {
          return false;
        }
      })
      .map((path) => relative(repoRoot, path)),
  );
}

/** The environment variables a block reads (`process.env.NAME`). */
export function envNames(code: string): string[] {
  return [...new Set([...code.matchAll(/process\.env\.([A-Z0-9_]+)/g)].map((match) => match[1] ?? ""))];
}
