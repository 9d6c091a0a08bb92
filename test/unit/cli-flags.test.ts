import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseCommandLine, type CommandSpec } from "../../agent/src/cli/flags.js";
import { renderSynopsis, renderUsage, wrap } from "../../agent/src/cli/usage.js";
import { COMMANDS } from "../../agent/src/cli/registry.js";
import { InputError } from "../../agent/src/core/errors.js";
import { main } from "../../agent/src/cli/main.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { PassThrough } from "node:stream";

const SPEC = {
  name: "demo",
  summary: "a demo",
  args: [{ name: "NAME", description: "who" }, { name: "EXTRA", optional: true }],
  rest: { name: "ARGS", description: "for the other program" },
  flags: {
    key: { type: "string", multiple: true, value: "KEY", description: "a key" },
    mode: { type: "string", choices: ["file", "command"], default: "file", description: "how" },
    file: { type: "string", value: "PATH", description: "a file" },
    force: { type: "boolean", description: "do it anyway" },
  },
  description: "Does the demo.",
  notes: "Example: podspawn demo x",
} as const satisfies CommandSpec;

const field = (name: string) => (err: unknown) => err instanceof InputError && err.field === name;

describe("parseCommandLine", () => {
  it("gives every flag its declared shape: lists, defaults, booleans, undefined when absent", () => {
    const p = parseCommandLine(SPEC, ["alice", "--key", "a", "--key", "b"]);
    assert.deepEqual(p.flags, { key: ["a", "b"], mode: "file", file: undefined, force: false });
    assert.deepEqual(p.args, ["alice"]);
    assert.deepEqual(p.rest, []);
  });

  it("hands over everything after -- untouched, flags included", () => {
    const p = parseCommandLine(SPEC, ["alice", "--force", "--", "--key", "-p", "22"]);
    assert.equal(p.flags.force, true);
    assert.deepEqual(p.flags.key, []);
    assert.deepEqual(p.rest, ["--key", "-p", "22"]);
  });

  it("refuses unknown flags and missing values, naming the command's flags", () => {
    assert.throws(() => parseCommandLine(SPEC, ["alice", "--nope"]), field("demo flags"));
    assert.throws(() => parseCommandLine(SPEC, ["alice", "--file"]), field("demo flags"));
  });

  it("refuses a value outside the choices, naming the flag and the choices", () => {
    assert.throws(() => parseCommandLine(SPEC, ["alice", "--mode", "magic"]), (e: unknown) => e instanceof InputError && e.field === "--mode" && e.allowed === "file, command");
  });

  it("checks the argument count against the declaration", () => {
    assert.throws(() => parseCommandLine(SPEC, []), (e: unknown) => e instanceof InputError && e.problem === "expected NAME [EXTRA], got 0 argument(s)");
    assert.throws(() => parseCommandLine(SPEC, ["a", "b", "c"]), field("demo"));
    assert.deepEqual(parseCommandLine(SPEC, ["a", "b"]).args, ["a", "b"]);
    const none = { name: "none", summary: "", flags: {}, description: "" } satisfies CommandSpec;
    assert.throws(() => parseCommandLine(none, ["x"]), (e: unknown) => e instanceof InputError && e.problem === "takes no arguments");
  });

  it("requires a required flag", () => {
    const spec = { name: "req", summary: "", flags: { file: { type: "string", required: true, value: "F", description: "" } }, description: "" } as const satisfies CommandSpec;
    assert.throws(() => parseCommandLine(spec, []), (e: unknown) => e instanceof InputError && e.field === "--file" && e.problem === "is required");
    assert.equal(parseCommandLine(spec, ["--file", "x"]).flags.file, "x");
  });
});

describe("renderUsage", () => {
  it("renders the synopsis, description, arguments, flags with defaults and notes from the declaration", () => {
    assert.equal(
      renderUsage(SPEC),
      [
        "Usage: podspawn demo NAME [EXTRA] [--key KEY]... [--mode file|command] [--file PATH] [--force]",
        "                     [-- ARGS...]",
        "",
        "Does the demo.",
        "",
        "Arguments:",
        "  NAME  who",
        "  ARGS  for the other program",
        "",
        "Flags:",
        "  --key KEY            a key (repeatable)",
        "  --mode file|command  how (default: file)",
        "  --file PATH          a file",
        "  --force              do it anyway",
        "",
        "Example: podspawn demo x",
        "",
      ].join("\n"),
    );
  });

  it("wraps a long synopsis under its first word and keeps every line within 100 columns", () => {
    const flags = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`flag-number-${i}`, { type: "string", value: "VALUE", description: "x ".repeat(80).trim() }] as const));
    const spec: CommandSpec = { name: "wide", summary: "", flags, description: "" };
    const lines = renderUsage(spec).split("\n");
    assert.ok(lines.every((l) => l.length <= 100), lines.find((l) => l.length > 100));
    assert.match(renderSynopsis(spec).split("\n")[1] ?? "", /^ {21}\[--flag-number-/);
  });

  it("wraps words greedily and never splits one", () => {
    assert.deepEqual(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
    assert.deepEqual(wrap("averyveryverylongword x", 5), ["averyveryverylongword", "x"]);
    assert.deepEqual(wrap("one\ntwo", 50), ["one", "two"]);
  });
});

describe("every CLI command", () => {
  it("has its --help rendered from its own declaration, except the hot-path spawn", () => {
    for (const c of COMMANDS) {
      if (c.name === "spawn") continue;
      assert.ok(c.spec, `${c.name} has a declaration`);
      assert.equal(c.usage, renderUsage(c.spec), c.name);
      assert.equal(c.summary, c.spec.summary, c.name);
    }
  });

  it("lists in its usage every flag its parser accepts", () => {
    for (const c of COMMANDS) {
      for (const flag of Object.keys(c.spec?.flags ?? {})) assert.match(c.usage, new RegExp(`--${flag}\\b`), `${c.name} --${flag}`);
    }
  });
});

describe("the dispatcher", () => {
  it("leaves -h after -- to the other program instead of printing help", async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const text = (s: PassThrough): string => String(s.read() ?? "");
    const code = await main(["forward", "0:1", "not a host", "--", "-h"], { stdout: out, stderr: err, env: {}, layout: layoutFor("podspawn") });
    assert.equal(code, 2);
    assert.equal(text(out), "");
    assert.match(text(err), /^podspawn forward: DESTINATION: "not a host" is not an ssh destination/);
    assert.equal(await main(["forward", "-h"], { stdout: out, stderr: err, env: {}, layout: layoutFor("podspawn") }), 0);
    assert.match(text(out), /^Usage: podspawn forward /);
  });
});
