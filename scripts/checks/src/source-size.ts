// Measures source files and the functions in them, so a package can hold its files and functions to a size a reader
// takes in at once. Function = any function declaration, method, accessor, constructor, function expression or arrow
// function; its length is the lines from its first to its last line, nested functions included.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

export interface Oversize {
  /** Path relative to the measured root; with `:line` and the function's name for functions. */
  where: string;
  lines: number;
}

/** Non-test TypeScript sources under `dir` (tests and test-support files excluded). */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((path) => path.endsWith(".ts") && !/\.test(-support)?\.ts$/.test(path) && !path.endsWith(".d.ts"))
    .map((path) => join(dir, path))
    .sort();
}

function functionName(node: ts.Node, source: ts.SourceFile): string {
  const named = node as { name?: ts.Node };
  if (named.name !== undefined) return named.name.getText(source);
  const parent = node.parent;
  if (parent !== undefined && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))) {
    return parent.name.getText(source);
  }
  return "(anonymous)";
}

/** Files longer than `maxFileLines` and functions longer than `maxFunctionLines`, under `root`. */
export function oversized(
  root: string,
  files: readonly string[],
  limits: { maxFileLines: number; maxFunctionLines: number },
): Oversize[] {
  const found: Oversize[] = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const name = relative(root, file);
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const fileLines = source.getLineAndCharacterOfPosition(text.length).line + (text.endsWith("\n") ? 0 : 1);
    if (fileLines > limits.maxFileLines) found.push({ where: name, lines: fileLines });
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body !== undefined) {
        const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const lines = end - start + 1;
        if (lines > limits.maxFunctionLines) {
          found.push({ where: `${name}:${start + 1} ${functionName(node, source)}`, lines });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}
