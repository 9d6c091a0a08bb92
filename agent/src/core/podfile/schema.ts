import * as z from "zod";
import { hint, jsonSchemaOf, refuse } from "../config/schema-kit.js";
import type { FieldPath } from "../config/field-path.js";
import { BUNDLED_BASE_NAMES } from "./bundled-bases.js";
import {
  absolutePath,
  branchName,
  displayName,
  dotfiles,
  envMap,
  hook,
  imageRef,
  MOUNTS,
  packageEntry,
  PODFILE_DEFAULTS,
  ports,
  relativePath,
  repo,
  resources,
  script,
  service,
  SESSION_MODES,
} from "./field-schemas.js";
import { isRemoval, parsePackage } from "./package-spec.js";

/**
 * One Podfile as written: the source of the TypeScript types (`PodfileLayer`), the error wording
 * and the committed JSON Schema (podfiles/podfile.schema.json). Every field may be left out or
 * left empty; what a missing field means is decided after `extends` is resolved (merge.ts), so a
 * default never overrides a base. The fields a child may replace instead of merge also exist
 * with a trailing '!' (`packages!:`).
 */

/** Fields whose inherited value a child can replace (`key!:`) instead of merging into. */
export const REPLACEABLE = ["packages", "env", "services", "repos", "on_create", "on_start", "extra_commands"] as const;
export type Replaceable = (typeof REPLACEABLE)[number];

const described = <T extends z.ZodType>(schema: T, description: string, defaultValue?: string) => schema.nullish().meta(defaultValue === undefined ? { description } : { description, default: defaultValue });

const EXTENDS_ALLOWED = `a Podfile path ending in .yaml or .yml (relative to this file's directory, or absolute), or a bundled base: ${BUNDLED_BASE_NAMES.join(", ")}`;

/** A bundled base by bare name, or a local YAML file; never a URL (nothing is fetched). */
const extendsRef = () =>
  hint(z.string().max(4096).regex(/^(?:[a-z0-9][a-z0-9-]{0,62}|[^\n]+\.ya?ml)$/), { what: "a Podfile to extend", allowed: EXTENDS_ALLOWED }).superRefine((ref, ctx) => {
    if (ref.includes("\0")) refuse(ctx, "contains a NUL character", { allowed: EXTENDS_ALLOWED });
    if (/^[a-z0-9-]+$/.test(ref) && !BUNDLED_BASE_NAMES.includes(ref)) refuse(ctx, `${JSON.stringify(ref)} is not a bundled base`, { allowed: EXTENDS_ALLOWED });
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) refuse(ctx, `${JSON.stringify(ref)} is a URL: extends reads local files only`, { allowed: EXTENDS_ALLOWED });
  });

const list = <T extends z.ZodType>(item: T, max: number, allowed: string) => hint(z.array(item).max(max), { allowed });

const packages = () => list(packageEntry(), 500, "a list of packages");
const services = () => list(service(), 32, "a list of services: name, image, ports, env, volumes, ready");
const repos = () => list(repo(), 64, "a list of repos: url, path, branch");
const extraCommands = () => list(script(), 200, "a list of commands, each one build step");

const LAYER_SHAPE = {
  /** Image the environment is built on: any image present on the node (nothing is pulled). */
  base: described(imageRef(), "Image the environment is built on; any image present on the node. Required unless extends gives one."),
  extends: described(extendsRef(), `Podfile this one builds on: ${EXTENDS_ALLOWED}.`),
  name: described(displayName(), "Name shown in progress lines; not inherited. Default: the project name."),
  packages: described(packages(), "Debian packages (apt-get), name@version for nodejs, python, go, rust (or name=version* for others); !name drops an inherited one. Merged: base order, then new ones."),
  "packages!": described(packages(), "Replaces the inherited packages."),
  shell: described(absolutePath(), "The user's login shell and the shell of extra_commands. Default: bash if the image has it, else sh."),
  env: described(envMap(), "Environment of sessions, hooks and build steps; ${PODSPAWN_USER} and ${PODSPAWN_PROJECT} are expanded. Merged by name; an empty value drops an inherited one."),
  "env!": described(envMap(), "Replaces the inherited env."),
  services: described(services(), "Companion containers on the environment's own network, reachable by name. Merged by name; name: \"!x\" drops one."),
  "services!": described(services(), "Replaces the inherited services."),
  dotfiles: described(dotfiles(), "A dotfiles repository cloned into ~/dotfiles on first create; install runs there. A child's replaces the base's."),
  repos: described(repos(), "Repositories cloned into the workspace on first create. Merged by url; url: \"!u\" drops one."),
  "repos!": described(repos(), "Replaces the inherited repos."),
  ports: described(ports(), "Ports the environment serves (expose is merged as a union)."),
  resources: described(resources(), "CPU and memory of the main container, each at most the node's cap. Merged per field."),
  on_create: described(hook(), "Run once, as the user, when the container is created (after services are ready). Concatenated base first."),
  "on_create!": described(hook(), "Replaces the inherited on_create."),
  on_start: described(hook(), "Run as the user at the start of every session. Concatenated base first."),
  "on_start!": described(hook(), "Replaces the inherited on_start."),
  extra_commands: described(extraCommands(), "Build steps run as root after the packages, each its own RUN. Appended to the base's."),
  "extra_commands!": described(extraCommands(), "Replaces the inherited extra_commands."),
  mode: described(hint(z.enum(SESSION_MODES), { allowed: SESSION_MODES.join(", ") }), "Session mode. Default: the node's session.mode."),
  workspace: described(relativePath(), "Working directory of sessions and root of repos, relative to the user's home. Default: the home itself; with mount: copy, the project's name."),
  mount: described(hint(z.enum(MOUNTS), { allowed: "none, copy (no bind: a Podfile cannot mount host directories)" }), "copy: the project's repository (add-project --repo) is cloned into the workspace on first create, at the commit the node read; none: nothing is.", PODFILE_DEFAULTS.mount),
  branch: described(branchName(), "Branch of the project's repository to use (the Podfile is read there; add-project --branch wins). Default: its default branch."),
};

type Raw = z.output<z.ZodObject<typeof LAYER_SHAPE>>;

function refuseAt(ctx: z.core.$RefinementCtx<unknown>, path: FieldPath, problem: string, allowed?: string): void {
  refuse(ctx, problem, { path, allowed });
}

/** `key` and `key!` together, or `key!` / a `!x` removal with nothing to inherit from. */
function checkReplaceKeys(doc: Raw, ctx: z.core.$RefinementCtx<unknown>): void {
  for (const key of REPLACEABLE) {
    const bang = `${key}!` as const;
    if (doc[bang] === undefined) continue;
    if (doc[key] !== undefined) refuseAt(ctx, [bang], `is set together with ${key}`, `${key} (merge with the base) or ${bang} (replace it), not both`);
    else if (doc.extends == null) refuseAt(ctx, [bang], "replaces an inherited value, but this Podfile has no extends", `${key} without '!'`);
  }
}

/** `!x` drops an inherited entry: only in a merging list of a Podfile that has a base to inherit from. */
function checkRemovals(doc: Raw, ctx: z.core.$RefinementCtx<unknown>): void {
  const why = (key: string): string | null =>
    key.endsWith("!") ? `but ${key} replaces the inherited list, so there is nothing to drop` : doc.extends == null ? "but this Podfile has no extends, so there is nothing to drop" : null;
  for (const key of ["packages", "packages!"] as const) {
    const reason = why(key);
    if (reason) (doc[key] ?? []).forEach((p, i) => isRemoval(p) && refuseAt(ctx, [key, i], `${JSON.stringify(p)} drops an inherited package, ${reason}`, "a package name without '!'"));
  }
  for (const key of ["services", "services!"] as const) {
    const reason = why(key);
    if (reason) (doc[key] ?? []).forEach((s, i) => s.kind === "remove" && refuseAt(ctx, [key, i, "name"], `"!${s.name}" drops an inherited service, ${reason}`));
  }
  for (const key of ["repos", "repos!"] as const) {
    const reason = why(key);
    if (reason) (doc[key] ?? []).forEach((r, i) => r.kind === "remove" && refuseAt(ctx, [key, i, "url"], `"!${r.url}" drops an inherited repo, ${reason}`));
  }
}

/** Within one file each package name, service name and repo url appears once. */
function checkUnique(doc: Raw, ctx: z.core.$RefinementCtx<unknown>): void {
  const once = <T>(key: string, items: readonly T[] | null | undefined, id: (t: T) => string, field: (string | number)[] = []): void => {
    const seen = new Map<string, number>();
    (items ?? []).forEach((item, i) => {
      const k = id(item);
      const earlier = seen.get(k);
      if (earlier !== undefined) refuseAt(ctx, [key, i, ...field], `${JSON.stringify(k)} is already listed at ${key}[${earlier}]`, "each one once");
      seen.set(k, i);
    });
  };
  for (const key of ["packages", "packages!"] as const) once(key, doc[key], (p) => parsePackage(p).name);
  for (const key of ["services", "services!"] as const) once(key, doc[key], (s) => s.name, ["name"]);
  for (const key of ["repos", "repos!"] as const) once(key, doc[key], (r) => r.url, ["url"]);
}

/** A list edit: merged into the inherited value, or (`key!`) replacing it. */
export interface Edit<T> {
  readonly replace: boolean;
  readonly items: T;
}

function edit<T>(plain: T | null | undefined, bang: T | null | undefined, empty: T): Edit<T> | undefined {
  if (bang !== undefined) return { replace: true, items: bang ?? empty };
  return plain == null ? undefined : { replace: false, items: plain };
}

const toLayer = (d: Raw) => ({
  base: d.base ?? undefined,
  extends: d.extends ?? undefined,
  name: d.name ?? undefined,
  packages: edit(d.packages, d["packages!"], [] as string[]),
  shell: d.shell ?? undefined,
  env: edit(d.env, d["env!"], {} as Record<string, string | null>),
  services: edit(d.services, d["services!"], []),
  dotfiles: d.dotfiles ?? undefined,
  repos: edit(d.repos, d["repos!"], []),
  ports: d.ports ?? undefined,
  resources: d.resources ?? undefined,
  onCreate: edit(d.on_create, d["on_create!"], [] as string[]),
  onStart: edit(d.on_start, d["on_start!"], [] as string[]),
  extraCommands: edit(d.extra_commands, d["extra_commands!"], [] as string[]),
  mode: d.mode ?? undefined,
  workspace: d.workspace ?? undefined,
  mount: d.mount ?? undefined,
  branch: d.branch ?? undefined,
});

export const PODFILE_LAYER_SCHEMA = z
  .strictObject(LAYER_SHAPE)
  .superRefine((doc, ctx) => {
    if (doc.base == null && doc.extends == null) refuseAt(ctx, ["base"], "is required (or extends, to inherit one)", "an image present on the node, e.g. podspawn/default:bookworm");
    checkReplaceKeys(doc, ctx);
    checkRemovals(doc, ctx);
    checkUnique(doc, ctx);
  })
  .transform(toLayer);

/** One Podfile file, validated and normalized (sizes in bytes, hooks as lists, removals marked). */
export type PodfileLayer = z.output<typeof PODFILE_LAYER_SCHEMA>;
export type ServiceEntry = NonNullable<PodfileLayer["services"]>["items"][number];
export type ServiceSpec = Extract<ServiceEntry, { kind: "service" }>;
export type RepoEntry = NonNullable<PodfileLayer["repos"]>["items"][number];
export type RepoSpec = Extract<RepoEntry, { kind: "repo" }>;
export type DotfilesSpec = NonNullable<PodfileLayer["dotfiles"]>;
export type PortStrategy = NonNullable<NonNullable<PodfileLayer["ports"]>["strategy"]>;
export type Mount = NonNullable<PodfileLayer["mount"]>;
export type PodfileMode = NonNullable<PodfileLayer["mode"]>;

export const PODFILE_SCHEMA_ID = "https://podspawn.dev/schemas/podfile.schema.json";

/** The committed JSON Schema (podfiles/podfile.schema.json), for editors; nothing at run time needs it. */
export function podfileJsonSchema(): Record<string, unknown> {
  return jsonSchemaOf(PODFILE_LAYER_SCHEMA, {
    $id: PODFILE_SCHEMA_ID,
    title: "podspawn Podfile",
    description: "A podspawn environment: base image, packages, companion services, dotfiles, repos, hooks, env, resources. See docs/podfiles.md.",
  });
}
