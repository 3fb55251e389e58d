import { SkittleError } from "@skittlesorter/core";
import { describe, expect, it } from "vitest";
import {
  buildProgram,
  CliError,
  type CliIo,
  type CommandGroup,
  isCliError,
  runProgram,
  usageError,
} from "./index.ts";

function bufferIo(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, cwd: "/", stdout: (text) => out.push(text), stderr: (text) => err.push(text) };
}

class WidgetError extends SkittleError<"WIDGET_JAMMED"> {}

const widgets: CommandGroup = (program, context) => {
  const group = program.command("widget").description("widgets");
  group
    .command("show")
    .option("--json", "print JSON")
    .action(function (this: import("commander").Command) {
      context(this).print({ id: 7 }, "widget 7");
    });
  group.command("jam").action(() => {
    throw new WidgetError("WIDGET_JAMMED", "The widget is jammed: clear it and retry.");
  });
  group.command("misuse").action(() => {
    throw usageError("--size takes a number, e.g. --size 3.");
  });
  group.command("crash").action(() => {
    throw Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
  });
};

async function run(argv: string[]) {
  const io = bufferIo();
  const program = buildProgram({
    name: "demo",
    description: "a demo",
    version: "1.2.3",
    io,
    groups: [widgets],
  });
  const code = await runProgram(program, argv, io);
  return { code, out: io.out.join(""), err: io.err.join("") };
}

describe("buildProgram + runProgram", () => {
  it("prints human text, or JSON with --json", async () => {
    expect(await run(["widget", "show"])).toMatchObject({ code: 0, out: "widget 7\n" });
    const json = await run(["widget", "show", "--json"]);
    expect(JSON.parse(json.out)).toEqual({ id: 7 });
  });

  it("prints the version and help through io, exit 0", async () => {
    expect(await run(["--version"])).toMatchObject({ code: 0, out: "1.2.3\n" });
    expect((await run(["widget", "--help"])).out).toContain("show");
  });

  it("exits 2 on usage errors, from commander and from usageError", async () => {
    const unknown = await run(["widget", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("run with --help");
    expect(await run(["widget", "misuse"])).toMatchObject({
      code: 2,
      err: "error [USAGE]: --size takes a number, e.g. --size 3.\n",
    });
  });

  it("prints a package error's code and message, exit 1, no stack", async () => {
    const jammed = await run(["widget", "jam"]);
    expect(jammed).toMatchObject({
      code: 1,
      err: "error [WIDGET_JAMMED]: The widget is jammed: clear it and retry.\n",
    });
  });

  it("prints a system error's own code, and UNEXPECTED for an uncoded error", async () => {
    expect(await run(["widget", "crash"])).toMatchObject({
      code: 1,
      err: "error [ENOENT]: ENOENT: no such file\n",
    });
  });
});

describe("CliError", () => {
  it("is a SkittleError with an exit code, recognised by its guard", () => {
    const error = new CliError("SIM_NOT_RUNNING", "start it", { exitCode: 1 });
    expect(error).toBeInstanceOf(SkittleError);
    expect(error.name).toBe("CliError");
    expect(isCliError(error)).toBe(true);
    expect(isCliError(new WidgetError("WIDGET_JAMMED", "x"))).toBe(false);
    expect(usageError("x").exitCode).toBe(2);
  });
});
