import { InputError } from "../errors.js";
import { fieldAt } from "../config/field-path.js";
import { readYaml } from "../config/yaml-source.js";
import { readPort } from "../config/units.js";
import { isAbsoluteContainerPath } from "./container-path.js";
import { isImageRef } from "./image-ref.js";
import type { ImportNotes } from "./import-notes.js";

/**
 * The compose file(s) a devcontainer.json names, mapped to what a Podfile can say: the main
 * service's image, environment and ports become the environment's; every other service with an
 * image becomes a companion service with its environment, ports and named volumes. Builds, host
 * paths, network modes, restart policies and the rest are noted and left out.
 */

/** One key of a service, and where it was written (a later compose file overrides an earlier one). */
interface Written {
  readonly value: unknown;
  readonly file: string;
  readonly line: number | undefined;
}

interface ComposeService {
  /** Where the service's name was first written. */
  readonly file: string;
  readonly line: number | undefined;
  readonly keys: Map<string, Written>;
}

export interface ComposeFile {
  readonly file: string;
  readonly text: string;
}

export interface ImportedService {
  readonly name: string;
  readonly image: string;
  readonly ports: number[];
  readonly env: Record<string, string>;
  readonly volumes: string[];
}

export interface ComposeImport {
  readonly main: { readonly image: string; readonly env: Record<string, string>; readonly ports: number[] };
  readonly services: ImportedService[];
}

const TOP_LEVEL_READ = new Set(["services", "volumes", "version"]);
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const VOLUME_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function readFiles(files: readonly ComposeFile[], notes: ImportNotes): Map<string, ComposeService> {
  const services = new Map<string, ComposeService>();
  for (const { file, text } of files) {
    const src = readYaml(text, file);
    if (!isMapping(src.value) || !isMapping(src.value["services"])) throw new InputError(fieldAt(["services"], file, src.lineOf(["services"])), "is missing or not a mapping", "a compose file with a services mapping");
    for (const key of Object.keys(src.value)) if (!TOP_LEVEL_READ.has(key)) notes.note(file, src.lineOf([key]), [key], "not supported; left out");
    for (const [name, body] of Object.entries(src.value["services"])) {
      if (!isMapping(body)) throw new InputError(fieldAt(["services", name], file, src.lineOf(["services", name])), "is not a mapping", "a compose service");
      const merged = services.get(name) ?? { file, line: src.lineOf(["services", name]), keys: new Map<string, Written>() };
      for (const [key, value] of Object.entries(body)) merged.keys.set(key, { value, file, line: src.lineOf(["services", name, key]) });
      services.set(name, merged);
    }
  }
  return services;
}

function textOf(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return null;
}

/** `environment:` as a mapping or a list of `NAME=value`; a bare NAME (taken from the host) is noted. */
function environment(w: Written, where: string, notes: ImportNotes): Record<string, string> {
  const out: Record<string, string> = {};
  const pairs: [string, unknown][] = Array.isArray(w.value)
    ? w.value.map((item): [string, unknown] => {
        const s = String(item);
        const eq = s.indexOf("=");
        return eq < 0 ? [s, null] : [s.slice(0, eq), s.slice(eq + 1)];
      })
    : isMapping(w.value)
      ? Object.entries(w.value)
      : [];
  if (!Array.isArray(w.value) && !isMapping(w.value)) notes.note(w.file, w.line, ["services", where, "environment"], "is neither a mapping nor a list; left out");
  for (const [key, value] of pairs) {
    const text = textOf(value);
    if (!ENV_KEY.test(key)) notes.note(w.file, w.line, ["services", where, "environment", key], "is not an environment variable name; left out");
    else if (text === null) notes.note(w.file, w.line, ["services", where, "environment", key], "takes its value from the host, which a Podfile cannot; left out");
    else out[key] = text;
  }
  return out;
}

/** The container side of `ports:` entries: 5432, "5432", "5432:5432", "127.0.0.1:5432:5432/tcp", {target: 5432}. */
function ports(w: Written, where: string, notes: ImportNotes): number[] {
  const out: number[] = [];
  const list = Array.isArray(w.value) ? w.value : [];
  if (!Array.isArray(w.value)) notes.note(w.file, w.line, ["services", where, "ports"], "is not a list; left out");
  list.forEach((entry, i) => {
    const raw = isMapping(entry) ? entry["target"] : typeof entry === "string" ? entry.split(":").pop()?.replace(/\/tcp$/, "") : entry;
    const port = readPort(raw);
    if (port.ok) out.push(port.value);
    else notes.note(w.file, w.line, ["services", where, "ports", i], `${JSON.stringify(entry)} is not a single TCP port; left out`);
  });
  return [...new Set(out)];
}

/** Named volumes only: `data:/var/lib/x[:ro]` or `{type: volume, source, target}`. */
function volumes(w: Written, where: string, notes: ImportNotes): string[] {
  const out: string[] = [];
  const list = Array.isArray(w.value) ? w.value : [];
  list.forEach((entry, i) => {
    const [source, target, mode] = isMapping(entry)
      ? [entry["type"] === "volume" ? String(entry["source"] ?? "") : "", String(entry["target"] ?? ""), entry["read_only"] === true ? "ro" : undefined]
      : String(entry).split(":");
    const note = (why: string): void => notes.note(w.file, w.line, ["services", where, "volumes", i], `${JSON.stringify(entry)} ${why}; left out`);
    if (source === undefined || target === undefined || source === "") note("is not a named volume (anonymous, or a bind mount)");
    else if (!VOLUME_NAME.test(source) || source === "home") note("is a host path or not a usable volume name: a Podfile allows named volumes only");
    else if (!isAbsoluteContainerPath(target)) note("has a target that is not a plain absolute path");
    else out.push(`${source}:${target.replace(/\/$/, "")}${mode === "ro" ? ":ro" : ""}`);
  });
  return out;
}

function image(svc: ComposeService): string | null {
  const w = svc.keys.get("image");
  return w && typeof w.value === "string" && isImageRef(w.value) ? w.value : null;
}

const WHY: Readonly<Record<string, string>> = {
  command: "podspawn runs its own keep-alive and the image's own command for services; left out",
  entrypoint: "podspawn runs its own keep-alive and the image's own entrypoint for services; left out",
  network_mode: "a Podfile cannot choose a network mode (services share the environment's own network); left out",
  build: "building from a Dockerfile is not supported; left out",
  privileged: "a Podfile cannot ask for privileged mode; left out",
  cap_add: "a Podfile cannot add capabilities; left out",
  devices: "a Podfile cannot pass devices; left out",
  user: "not supported (services run as their image's user, sessions as the pod user); left out",
};

function noteRest(svc: ComposeService, where: string, read: ReadonlySet<string>, notes: ImportNotes, main: boolean): void {
  for (const [key, w] of svc.keys) {
    if (read.has(key)) continue;
    const why = main && key === "volumes" ? "the main container mounts nothing but the user's home; left out" : (WHY[key] ?? "not supported; left out");
    notes.note(w.file, w.line, ["services", where, key], why);
  }
}

const MAIN_READ = new Set(["image", "environment", "ports"]);
const SERVICE_READ = new Set(["image", "environment", "ports", "volumes"]);

export function importCompose(files: readonly ComposeFile[], mainName: string, runServices: readonly string[] | null, notes: ImportNotes): ComposeImport {
  const services = readFiles(files, notes);
  const main = services.get(mainName);
  const last = files[files.length - 1]?.file ?? "compose file";
  if (!main) throw new InputError(fieldAt(["services"], last), `has no service ${JSON.stringify(mainName)} (the devcontainer's "service")`, [...services.keys()].join(", ") || "a service");
  const mainImage = image(main);
  if (!mainImage) throw new InputError(fieldAt(["services", mainName, "image"], main.keys.get("image")?.file ?? main.file, main.keys.get("image")?.line ?? main.line), main.keys.has("build") ? "the main service is built from a Dockerfile, which is not supported" : "is missing or not an image reference", "an image present on the node");
  noteRest(main, mainName, MAIN_READ, notes, true);
  const mainEnv = main.keys.get("environment");
  const mainPorts = main.keys.get("ports");
  const companions: ImportedService[] = [];
  for (const [name, svc] of services) {
    if (name === mainName) continue;
    if (runServices !== null && !runServices.includes(name)) continue;
    const img = image(svc);
    if (!SERVICE_NAME.test(name) || img === null) {
      notes.note(svc.file, svc.line, ["services", name], !SERVICE_NAME.test(name) ? "is not a DNS label, so it cannot be a service name; left out" : "has no image reference (a build is not supported); left out");
      continue;
    }
    noteRest(svc, name, SERVICE_READ, notes, false);
    const env = svc.keys.get("environment");
    const p = svc.keys.get("ports");
    const v = svc.keys.get("volumes");
    companions.push({ name, image: img, env: env ? environment(env, name, notes) : {}, ports: p ? ports(p, name, notes) : [], volumes: v ? volumes(v, name, notes) : [] });
  }
  return {
    main: { image: mainImage, env: mainEnv ? environment(mainEnv, mainName, notes) : {}, ports: mainPorts ? ports(mainPorts, mainName, notes) : [] },
    services: companions,
  };
}
