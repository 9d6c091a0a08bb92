import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../../agent/src/core/config/node-config.js";
import { InputError } from "../../../agent/src/core/errors.js";
import { localPodfilePath, resolvePodfile, type PodfileLoader, type Resolution, type ResourceCaps } from "../../../agent/src/core/podfile/index.js";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");

export const BUNDLED_BASE_IMAGE = "podspawn/default:bookworm";
export const CAPS: ResourceCaps = { cpus: 4, memoryBytes: 8 * 1024 ** 3 };

/** Podfiles in memory by absolute path; records what the resolver asked for. */
export function memoryLoader(files: Readonly<Record<string, string>>): PodfileLoader & { readonly calls: { ref: string; fromDir: string }[] } {
  const calls: { ref: string; fromDir: string }[] = [];
  const load = async (ref: string, fromDir: string) => {
    calls.push({ ref, fromDir });
    const file = localPodfilePath(ref, fromDir);
    const text = files[file];
    if (text === undefined) throw new InputError(file, "no such Podfile");
    return { text, file };
  };
  return Object.assign(load, { calls });
}

/** Reads real files (examples, fixtures), only under `root`. */
export function fsLoader(root: string): PodfileLoader {
  return async (ref, fromDir) => {
    const file = localPodfilePath(ref, fromDir);
    if (!file.startsWith(`${root}/`)) throw new InputError(file, "is outside the tree this test reads");
    return { text: await readFile(file, "utf8"), file };
  };
}

/** Resolves `/p/podfile.yaml` = `text` with the other files in memory. */
export function resolveText(text: string, others: Readonly<Record<string, string>> = {}, file = "/p/podfile.yaml"): Promise<Resolution> {
  return resolvePodfile(text, file, { load: memoryLoader(others), bundledBaseImage: BUNDLED_BASE_IMAGE, caps: CAPS });
}

/** Asserts an InputError whose whole message is `expected`. */
export function says(expected: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.equal(err.message, expected);
    return true;
  };
}

/** An InputError whose message matches. */
export function saysLike(re: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.match(err.message, re);
    return true;
  };
}

export const NODE: NodeConfig = DEFAULT_NODE_CONFIG;

export const dir = (file: string): string => posix.dirname(file);

/**
 * A small JSON Schema evaluator for the keywords the Podfile schema uses, written apart from
 * zod, so a test can check that what editors are told agrees with the validator. An unknown
 * keyword is an error, so a schema that grows new rules is noticed here.
 */
type Schema = Record<string, unknown>;
const ANNOTATIONS = new Set(["$schema", "$id", "title", "description", "default"]);

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "boolean":
      return typeof v === "boolean";
    case "null":
      return v === null;
    case "array":
      return Array.isArray(v);
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v);
    default:
      throw new Error(`unsupported type ${type}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeOk("object", v);

export function jsonSchemaAccepts(schema: Schema, v: unknown): boolean {
  return Object.entries(schema).every(([k, rule]) => {
    if (ANNOTATIONS.has(k)) return true;
    switch (k) {
      case "type":
        return (Array.isArray(rule) ? (rule as string[]) : [rule as string]).some((t) => typeOk(t, v));
      case "anyOf":
        return (rule as Schema[]).some((s) => jsonSchemaAccepts(s, v));
      case "enum":
        return (rule as unknown[]).includes(v);
      case "const":
        return v === rule;
      case "pattern":
        return typeof v !== "string" || new RegExp(rule as string, "u").test(v);
      case "maxLength":
        return typeof v !== "string" || [...v].length <= (rule as number);
      case "minLength":
        return typeof v !== "string" || [...v].length >= (rule as number);
      case "minimum":
        return typeof v !== "number" || v >= (rule as number);
      case "maximum":
        return typeof v !== "number" || v <= (rule as number);
      case "exclusiveMinimum":
        return typeof v !== "number" || v > (rule as number);
      case "minItems":
        return !Array.isArray(v) || v.length >= (rule as number);
      case "maxItems":
        return !Array.isArray(v) || v.length <= (rule as number);
      case "items":
        return !Array.isArray(v) || v.every((item) => jsonSchemaAccepts(rule as Schema, item));
      case "required":
        return !isObject(v) || (rule as string[]).every((r) => Object.hasOwn(v, r));
      case "properties":
        return !isObject(v) || Object.entries(rule as Record<string, Schema>).every(([p, s]) => !Object.hasOwn(v, p) || jsonSchemaAccepts(s, v[p]));
      case "propertyNames":
        return !isObject(v) || Object.keys(v).every((p) => jsonSchemaAccepts(rule as Schema, p));
      case "additionalProperties": {
        if (!isObject(v)) return true;
        const known = (schema["properties"] ?? {}) as object;
        const extra = Object.keys(v).filter((p) => !Object.hasOwn(known, p));
        return rule === false ? extra.length === 0 : extra.every((p) => jsonSchemaAccepts(rule as Schema, v[p]));
      }
      default:
        throw new Error(`unsupported keyword ${k}`);
    }
  });
}
