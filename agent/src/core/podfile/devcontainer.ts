import { posix } from "node:path";
import { stringify } from "yaml";
import { InputError } from "../errors.js";
import { fieldAt } from "../config/field-path.js";
import { readPort } from "../config/units.js";
import { importCompose, type ComposeImport, type ImportedService } from "./compose-import.js";
import { isImageRef } from "./image-ref.js";
import { ImportNotes, shellQuote } from "./import-notes.js";
import { readJsonc, type JsoncSource } from "./jsonc-source.js";
import { parsePodfile, type ParsedPodfile } from "./parse.js";
import type { PodfileLoader } from "./resolve.js";

/**
 * devcontainer.json to a Podfile, for projects that have one and no Podfile. What maps: image
 * (or a compose file's service), containerEnv and remoteEnv, forwardPorts, the lifecycle
 * commands that run in the container, compose services. Everything else is listed in the
 * returned notes (never dropped silently); initializeCommand is never run (it runs on the host).
 */

/** Where a project's devcontainer.json may be, in the order they are looked for. */
export const DEVCONTAINER_FILES = [".devcontainer/devcontainer.json", ".devcontainer.json"] as const;

export function findDevcontainer(files: ReadonlySet<string>): string | null {
  return DEVCONTAINER_FILES.find((f) => files.has(f)) ?? null;
}

export interface DevcontainerImport {
  /** The Podfile, validated, as text (YAML with a header naming its source). */
  readonly text: string;
  readonly podfile: ParsedPodfile;
  /** One line per property not carried over: `file:line: path: why`. */
  readonly notes: readonly string[];
}

/** Keys read below; `$schema` carries nothing to import. */
const READ = new Set(["$schema", "image", "name", "containerEnv", "remoteEnv", "forwardPorts", "onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand", "dockerComposeFile", "service", "runServices"]);

const WHY: Readonly<Record<string, string>> = {
  features: "not supported (list what they install under packages); left out",
  remoteUser: "sessions always run as the pod user; left out",
  containerUser: "sessions always run as the pod user; left out",
  initializeCommand: "runs on the host, which podspawn never does; left out",
  postAttachCommand: "not supported (on_start runs at every session); left out",
  workspaceFolder: "not supported (a Podfile's workspace is relative to the user's home); left out",
  mounts: "a Podfile cannot mount host paths; left out",
  workspaceMount: "a Podfile cannot mount host paths; left out",
  runArgs: "a Podfile cannot pass Docker options; left out",
  capAdd: "a Podfile cannot add capabilities; left out",
  privileged: "a Podfile cannot ask for privileged mode; left out",
  securityOpt: "a Podfile cannot change security options; left out",
};

// Variables that only a devcontainer tool on the developer's machine can fill in.
const DEVCONTAINER_VAR = /\$\{(localEnv|containerEnv|localWorkspaceFolder|containerWorkspaceFolder|localWorkspaceFolderBasename|containerWorkspaceFolderBasename|devcontainerId)\b[^}]*\}/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

class Mapper {
  readonly notes = new ImportNotes();
  constructor(private readonly src: JsoncSource) {}

  private get doc(): Record<string, unknown> {
    return this.src.value as Record<string, unknown>;
  }

  note(path: readonly (string | number)[], why: string): void {
    this.notes.note(this.src.file, this.src.lineOf(path), path, why);
  }

  fail(path: readonly (string | number)[], problem: string, allowed?: string): never {
    throw new InputError(fieldAt(path, this.src.file, this.src.lineOf(path)), problem, allowed);
  }

  unsupported(): void {
    for (const key of Object.keys(this.doc)) if (!READ.has(key)) this.note([key], WHY[key] ?? "not supported; left out");
  }

  env(into: Record<string, string>): void {
    for (const key of ["containerEnv", "remoteEnv"] as const) {
      const map = this.doc[key];
      if (map === undefined) continue;
      if (!isMapping(map)) {
        this.note([key], "is not an object; left out");
        continue;
      }
      for (const [name, value] of Object.entries(map)) {
        const at = [key, name];
        if (!ENV_KEY.test(name)) this.note(at, "is not an environment variable name; left out");
        else if (typeof value !== "string") this.note(at, "is not a string; left out");
        else if (DEVCONTAINER_VAR.test(value)) this.note(at, `${DEVCONTAINER_VAR.exec(value)?.[0] ?? ""} has no meaning on a podspawn node; left out`);
        else if (value === "") this.note(at, "an empty value would drop the variable in a Podfile; left out");
        else into[name] = value;
      }
    }
  }

  /** A lifecycle command: a string (shell), an argv list, or an object of either (run in order here). */
  commands(key: string): string[] {
    const v = this.doc[key];
    if (v === undefined || v === null) return [];
    const one = (c: unknown, path: (string | number)[]): string[] => {
      if (typeof c === "string") return c.trim() === "" ? [] : [c];
      if (Array.isArray(c) && c.length > 0 && c.every((a) => typeof a === "string")) return [c.map(shellQuote).join(" ")];
      this.note(path, "is not a command (a string or a list of strings); left out");
      return [];
    };
    if (isMapping(v)) return Object.entries(v).flatMap(([name, c]) => one(c, [key, name]));
    return one(v, [key]);
  }

  /** Numbers and "host:port": a port of the main container, or of a compose service named as host. */
  forwardPorts(mainHosts: ReadonlySet<string>, services: ImportedService[]): number[] {
    const v = this.doc["forwardPorts"];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.note(["forwardPorts"], "is not a list; left out");
      return [];
    }
    const expose: number[] = [];
    v.forEach((entry, i) => {
      const [host, raw] = typeof entry === "string" && entry.includes(":") ? [entry.slice(0, entry.lastIndexOf(":")), entry.slice(entry.lastIndexOf(":") + 1)] : ["localhost", entry];
      const port = readPort(raw);
      const svc = services.find((s) => s.name === host);
      if (!port.ok) this.note(["forwardPorts", i], `${JSON.stringify(entry)} is not a port; left out`);
      else if (mainHosts.has(host)) expose.push(port.value);
      else if (svc) {
        if (!svc.ports.includes(port.value)) svc.ports.push(port.value);
      }
      else this.note(["forwardPorts", i], `${JSON.stringify(entry)} names no service of this environment; left out`);
    });
    return [...new Set(expose)];
  }

  composeFiles(): string[] {
    const v = this.doc["dockerComposeFile"];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((f): f is string => typeof f === "string" && f !== "")) this.fail(["dockerComposeFile"], "is not a file name or a list of them", "a compose file path relative to devcontainer.json");
    return list;
  }
}

async function compose(m: Mapper, doc: Record<string, unknown>, file: string, load: PodfileLoader): Promise<ComposeImport> {
  const service = doc["service"];
  if (typeof service !== "string") m.fail(["service"], "is required with dockerComposeFile", "the name of the compose service to work in");
  const run = doc["runServices"];
  const runServices = Array.isArray(run) ? run.map(String) : null;
  const files = await Promise.all(m.composeFiles().map((ref) => load(ref, posix.dirname(file))));
  return importCompose(files, service, runServices, m.notes);
}

function podfileDocument(name: unknown, base: string, env: Record<string, string>, services: ImportedService[], expose: number[], onCreate: string[], onStart: string[]): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  if (typeof name === "string" && /^[!-~](?:[ -~]{0,62}[!-~])?$/.test(name)) doc["name"] = name;
  doc["base"] = base;
  if (Object.keys(env).length > 0) doc["env"] = env;
  if (services.length > 0) doc["services"] = services.map((s) => ({ name: s.name, image: s.image, ...(s.ports.length ? { ports: s.ports } : {}), ...(Object.keys(s.env).length ? { env: s.env } : {}), ...(s.volumes.length ? { volumes: s.volumes } : {}) }));
  if (expose.length > 0) doc["ports"] = { expose };
  if (onCreate.length > 0) doc["on_create"] = onCreate;
  if (onStart.length > 0) doc["on_start"] = onStart;
  return doc;
}

/** `file` is the devcontainer.json's path (compose files are loaded relative to its directory). */
export async function importDevcontainer(text: string, file: string, load: PodfileLoader): Promise<DevcontainerImport> {
  const src = readJsonc(text, file);
  if (!isMapping(src.value)) throw new InputError(fieldAt([], file), "is not a JSON object", "a devcontainer.json object");
  const doc = src.value;
  const m: Mapper = new Mapper(src);
  m.unsupported();
  if (doc["name"] !== undefined && !(typeof doc["name"] === "string" && /^[!-~](?:[ -~]{0,62}[!-~])?$/.test(doc["name"]))) m.note(["name"], "is not 1-64 printable ASCII characters; left out");
  let base: string;
  let env: Record<string, string> = {};
  let services: ImportedService[] = [];
  let expose: number[] = [];
  const mainHosts = new Set(["localhost", "127.0.0.1"]);
  const img = doc["image"];
  if (img !== undefined) {
    if (typeof img !== "string" || !isImageRef(img)) m.fail(["image"], `${JSON.stringify(img)} is not an image reference`, "an image present on the node");
    base = img;
    for (const key of ["dockerComposeFile", "service", "runServices"]) if (doc[key] !== undefined) m.note([key], "not used with image; left out");
  } else if (doc["dockerComposeFile"] !== undefined) {
    const c = await compose(m, doc, file, load);
    base = c.main.image;
    env = { ...c.main.env };
    services = c.services;
    expose = c.main.ports;
    mainHosts.add(String(doc["service"]));
  } else {
    m.fail(doc["build"] !== undefined || doc["dockerFile"] !== undefined ? ["build"] : [], "building from a Dockerfile is not supported", 'an "image", or "dockerComposeFile" with a "service" that has an image');
  }
  m.env(env);
  expose = [...new Set([...expose, ...m.forwardPorts(mainHosts, services)])];
  const onCreate = ["onCreateCommand", "updateContentCommand", "postCreateCommand"].flatMap((k) => m.commands(k));
  const onStart = m.commands("postStartCommand");
  const podfile = podfileDocument(doc["name"], base, env, services, expose, onCreate, onStart);
  const out = `# Imported by podspawn from ${posix.basename(file)}; see docs/podfiles.md.\n${stringify(podfile, { lineWidth: 0 })}`;
  return { text: out, podfile: parsePodfile(out, `${file} (imported)`), notes: m.notes.all };
}
