import type { ArgSpec, CommandSpec, FlagSpec } from "./command-spec.js";

/** `podspawn <command> --help`, rendered from the command's declaration only. */

const WIDTH = 100;
/** Labels wider than this put their description on the next line. */
const MAX_LABEL = 24;

function flagLabel(name: string, f: FlagSpec): string {
  if (f.type === "boolean") return `--${name}`;
  return `--${name} ${f.choices ? f.choices.join("|") : (f.value ?? "VALUE")}`;
}

function synopsisTokens(spec: CommandSpec): string[] {
  const args = (spec.args ?? []).map((a) => (a.optional ? `[${a.name}]` : a.name));
  const flags = Object.entries(spec.flags).map(([name, f]) => {
    const label = flagLabel(name, f);
    const token = f.required ? label : `[${label}]`;
    return f.multiple ? `${token}...` : token;
  });
  const rest = spec.rest ? [`[-- ${spec.rest.name}...]`] : [];
  return [...args, ...flags, ...rest];
}

/** `Usage: podspawn NAME ARGS [FLAGS]`, wrapped under its first token when it is long. */
export function renderSynopsis(spec: CommandSpec): string {
  const head = `Usage: podspawn ${spec.name}`;
  const indent = " ".repeat(head.length + 1);
  const lines: string[] = [];
  let line = head;
  for (const token of synopsisTokens(spec)) {
    if (line.length + 1 + token.length > WIDTH && line.trim() !== head) {
      lines.push(line);
      line = indent + token;
    } else {
      line += " " + token;
    }
  }
  lines.push(line);
  return lines.join("\n");
}

/** Greedy word wrap of each given line; a word longer than the width stays whole. */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const given of text.split("\n")) {
    let line = "";
    for (const word of given.split(" ")) {
      if (line !== "" && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else {
        line = line === "" ? word : `${line} ${word}`;
      }
    }
    out.push(line);
  }
  return out;
}

function flagText(f: FlagSpec): string {
  const shown = f.defaultText ?? f.default;
  const notes = [f.multiple ? "repeatable" : null, shown === undefined ? null : `default: ${shown}`].filter((n) => n !== null);
  return notes.length === 0 ? f.description : `${f.description} (${notes.join("; ")})`;
}

/** Two-column list: label, then its description wrapped and aligned under itself. */
function table(rows: readonly (readonly [string, string])[]): string[] {
  const column = Math.min(MAX_LABEL, Math.max(...rows.map(([label]) => label.length))) + 4;
  const out: string[] = [];
  for (const [label, description] of rows) {
    const text = wrap(description, WIDTH - column);
    const [first = "", ...more] = text;
    if (label.length + 4 > column) {
      out.push(`  ${label}`);
      out.push(...text.map((t) => " ".repeat(column) + t));
    } else {
      out.push(`  ${label.padEnd(column - 2)}${first}`.trimEnd());
      out.push(...more.map((t) => " ".repeat(column) + t));
    }
  }
  return out;
}

function argRows(spec: CommandSpec): (readonly [string, string])[] {
  const args: ArgSpec[] = [...(spec.args ?? []), ...(spec.rest ? [spec.rest] : [])];
  return args.flatMap((a) => (a.description === undefined ? [] : [[a.name, a.description] as const]));
}

export function renderUsage(spec: CommandSpec): string {
  const parts = [renderSynopsis(spec), "", spec.description.trimEnd()];
  const args = argRows(spec);
  if (args.length > 0) parts.push("", "Arguments:", ...table(args));
  const flags = Object.entries(spec.flags).map(([name, f]) => [flagLabel(name, f), flagText(f)] as const);
  if (flags.length > 0) parts.push("", "Flags:", ...table(flags));
  if (spec.notes) parts.push("", spec.notes.trimEnd());
  return parts.join("\n") + "\n";
}
