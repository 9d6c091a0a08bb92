import { parsePackage, isRemoval } from "./package-spec.js";
import { PODFILE_DEFAULTS } from "./field-schemas.js";
import type { ResolvedPodfile } from "./resolved-podfile.js";
import type { Edit, PodfileLayer, RepoEntry, RepoSpec, ServiceEntry, ServiceSpec } from "./schema.js";

/**
 * The `extends` merge rules, one function per kind of field. A child's unset field inherits the
 * base's; defaults are applied only to what no layer set (PODFILE_DEFAULTS, and null for "the
 * node decides"), so a default never overrides a base.
 */

/** What a chain starts from: nothing set. */
export const EMPTY_PODFILE: ResolvedPodfile = {
  name: null,
  base: "",
  packages: [],
  shell: null,
  env: {},
  services: [],
  dotfiles: null,
  repos: [],
  ports: { expose: [], strategy: PODFILE_DEFAULTS.strategy },
  resources: { cpus: null, memoryBytes: null },
  onCreate: [],
  onStart: [],
  extraCommands: [],
  mode: null,
  workspace: null,
  mount: PODFILE_DEFAULTS.mount,
  branch: null,
};

/**
 * Base order, then the new ones. One entry per package name: a child naming an inherited package
 * (`nodejs@20` over `nodejs@22`) replaces it where it stood. `!name` drops every entry of that
 * name, `!name@version` only that exact one; dropping what is not there is not an error (the base
 * may have dropped it first).
 */
export function mergePackages(base: readonly string[], edit: Edit<readonly string[]> | undefined): readonly string[] {
  if (!edit) return base;
  if (edit.replace) return [...edit.items];
  const drops = edit.items.filter(isRemoval).map((e) => e.slice(1));
  const dropped = (entry: string): boolean => drops.some((d) => d === entry || (!d.includes("@") && parsePackage(entry).name === d));
  const out = base.filter((e) => !dropped(e));
  for (const entry of edit.items.filter((e) => !isRemoval(e))) {
    const at = out.findIndex((e) => parsePackage(e).name === parsePackage(entry).name);
    if (at >= 0) out[at] = entry;
    else out.push(entry);
  }
  return out;
}

/** By name, child wins; an empty value drops the variable. */
export function mergeEnv(base: Readonly<Record<string, string>>, edit: Edit<Readonly<Record<string, string | null>>> | undefined): Readonly<Record<string, string>> {
  if (!edit) return base;
  const out: Record<string, string> = edit.replace ? {} : { ...base };
  for (const [k, v] of Object.entries(edit.items)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** By name: the same name replaces the whole service in place, `name: "!x"` drops it, new ones follow. */
export function mergeServices(base: readonly ServiceSpec[], edit: Edit<readonly ServiceEntry[]> | undefined): readonly ServiceSpec[] {
  if (!edit) return base;
  const given = edit.items.filter((s): s is ServiceSpec => s.kind === "service");
  if (edit.replace) return given;
  const drops = new Set(edit.items.filter((s) => s.kind === "remove").map((s) => s.name));
  const out = base.filter((s) => !drops.has(s.name));
  for (const s of given) {
    const at = out.findIndex((b) => b.name === s.name);
    if (at >= 0) out[at] = s;
    else out.push(s);
  }
  return out;
}

/** By url: the same url updates the fields it sets (path, branch), `url: "!u"` drops it, new ones follow. */
export function mergeRepos(base: readonly RepoSpec[], edit: Edit<readonly RepoEntry[]> | undefined): readonly RepoSpec[] {
  if (!edit) return base;
  const given = edit.items.filter((r): r is RepoSpec => r.kind === "repo");
  if (edit.replace) return given;
  const drops = new Set(edit.items.filter((r) => r.kind === "remove").map((r) => r.url));
  const out = base.filter((r) => !drops.has(r.url));
  for (const r of given) {
    const at = out.findIndex((b) => b.url === r.url);
    const was = out[at];
    if (was) out[at] = { ...was, path: r.path ?? was.path, branch: r.branch ?? was.branch };
    else out.push(r);
  }
  return out;
}

/** Hooks and build steps: the base's first, then the child's. */
export function appendList(base: readonly string[], edit: Edit<readonly string[]> | undefined): readonly string[] {
  if (!edit) return base;
  return edit.replace ? [...edit.items] : [...base, ...edit.items];
}

function union(base: readonly number[], more: readonly number[] | undefined): readonly number[] {
  return [...new Set([...base, ...(more ?? [])])];
}

/** `child` laid over `base` (which may be EMPTY_PODFILE for the root of a chain). */
export function mergeLayer(base: ResolvedPodfile, child: PodfileLayer): ResolvedPodfile {
  return {
    name: child.name ?? null,
    base: child.base ?? base.base,
    packages: mergePackages(base.packages, child.packages),
    shell: child.shell ?? base.shell,
    env: mergeEnv(base.env, child.env),
    services: mergeServices(base.services, child.services),
    dotfiles: child.dotfiles ?? base.dotfiles,
    repos: mergeRepos(base.repos, child.repos),
    ports: { expose: union(base.ports.expose, child.ports?.expose), strategy: child.ports?.strategy ?? base.ports.strategy },
    resources: { cpus: child.resources?.cpus ?? base.resources.cpus, memoryBytes: child.resources?.memoryBytes ?? base.resources.memoryBytes },
    onCreate: appendList(base.onCreate, child.onCreate),
    onStart: appendList(base.onStart, child.onStart),
    extraCommands: appendList(base.extraCommands, child.extraCommands),
    mode: child.mode ?? base.mode,
    workspace: child.workspace ?? base.workspace,
    mount: child.mount ?? base.mount,
    branch: child.branch ?? base.branch,
  };
}
