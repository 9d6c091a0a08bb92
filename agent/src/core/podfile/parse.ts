import { InputError } from "../errors.js";
import { fieldAt, type FieldPath } from "../config/field-path.js";
import { validate } from "../config/schema-kit.js";
import { formatBytes } from "../config/units.js";
import { readYaml, type YamlLimits } from "../config/yaml-source.js";
import { PODFILE_LAYER_SCHEMA, type PodfileLayer } from "./schema.js";

/** The most a node lets one environment have; a Podfile asking for more is refused. */
export interface ResourceCaps {
  readonly cpus: number;
  readonly memoryBytes: number;
}

export interface ParseOptions {
  /** Checked against `resources`; left out, only the schema's own bounds apply (e.g. off a node). */
  readonly caps?: ResourceCaps;
  readonly limits?: Partial<YamlLimits>;
}

export interface ParsedPodfile {
  /** As the loader named it; errors and `extends` cycles use it. */
  readonly file: string;
  readonly layer: PodfileLayer;
  /** Line of a field in the file, for errors found later (extends, caps). */
  readonly lineOf: (path: FieldPath) => number | undefined;
}

/** A Podfile is a page or two; anything near this is not one. */
export const PODFILE_MAX_BYTES = 256 * 1024;

/** Untrusted Podfile text to one validated layer; errors read `file:line: path: problem (allowed: ...)`. */
export function parsePodfile(text: string, file: string, opts: ParseOptions = {}): ParsedPodfile {
  const source = readYaml(text, file, { maxBytes: PODFILE_MAX_BYTES, ...opts.limits });
  const layer = validate(PODFILE_LAYER_SCHEMA, source.value, source);
  const parsed = { file, layer, lineOf: source.lineOf };
  if (opts.caps) checkCaps(parsed, opts.caps);
  return parsed;
}

/** An error about a field of a parsed file, worded like the schema's own. */
export function fieldError(parsed: ParsedPodfile, path: FieldPath, problem: string, allowed?: string): InputError {
  return new InputError(fieldAt(path, parsed.file, parsed.lineOf(path)), problem, allowed);
}

function cpuText(n: number): string {
  return `${n} CPU${n === 1 ? "" : "s"}`;
}

export function checkCaps(parsed: ParsedPodfile, caps: ResourceCaps): void {
  const r = parsed.layer.resources;
  if (r?.cpus !== undefined && r.cpus > caps.cpus) throw fieldError(parsed, ["resources", "cpus"], `${cpuText(r.cpus)} is above this node's cap of ${cpuText(caps.cpus)}`, `at most ${caps.cpus}`);
  if (r?.memoryBytes !== undefined && r.memoryBytes > caps.memoryBytes) {
    throw fieldError(parsed, ["resources", "memory"], `${formatBytes(r.memoryBytes)} is above this node's cap of ${formatBytes(caps.memoryBytes)}`, `at most ${formatBytes(caps.memoryBytes)}`);
  }
}
