import { basename, dirname, posix, resolve } from "node:path";
import { describeError, InputError } from "../../core/errors.js";
import { parseProjectsConfig } from "../../core/config/projects-config.js";
import { formatProjectRecord } from "../../core/projects/project-record.js";
import type { ReadText } from "../deps.js";
import { commitProject, warnAbout } from "./add-project.js";
import { loadProject, type LoadedProject } from "./load-project.js";
import type { ProjectDeps } from "./project-deps.js";

/**
 * `sync --projects projects.yaml`: make this node's projects exactly those of the file (GitOps,
 * beside the users). Every listed Podfile is read from the checkout the file is in (never from
 * outside it) and checked against the node before anything changes, so a bad file changes
 * nothing. Prepared and applied in two steps, so `sync` can check users and projects both first.
 */

export interface ProjectSyncRequest {
  readonly file: string;
  /** The directory podfile paths are relative to (the repository root). @default the file's directory */
  readonly root: string | null;
  readonly dryRun: boolean;
}

export interface ProjectSyncPlan {
  readonly create: readonly LoadedProject[];
  readonly update: readonly LoadedProject[];
  readonly remove: readonly string[];
  readonly unchanged: readonly string[];
}

async function desiredProjects(req: ProjectSyncRequest, deps: ProjectDeps & { readText: ReadText }): Promise<LoadedProject[]> {
  let text: string;
  try {
    text = await deps.readText(req.file);
  } catch (err) {
    throw new InputError("--projects", `cannot read ${req.file}: ${describeError(err)}`);
  }
  const config = parseProjectsConfig(text, basename(req.file));
  const root = resolve(req.root ?? dirname(req.file));
  const out: LoadedProject[] = [];
  for (const p of config.projects) {
    const source = p.podfile === undefined ? ({ kind: "default" } as const) : ({ kind: "podfile", file: posix.join(root, p.podfile), within: root } as const);
    out.push(await loadProject(p.name, source, deps));
  }
  return out;
}

export async function prepareProjectSync(req: ProjectSyncRequest, deps: ProjectDeps & { readText: ReadText }): Promise<ProjectSyncPlan> {
  const desired = await desiredProjects(req, deps);
  const current = new Set(await deps.projects.list());
  const create: LoadedProject[] = [];
  const update: LoadedProject[] = [];
  const unchanged: string[] = [];
  for (const d of desired) {
    const now = current.has(d.record.name) ? await deps.projects.read(d.record.name) : null;
    if (now === null) create.push(d);
    else if (formatProjectRecord(now) !== formatProjectRecord(d.record)) update.push(d);
    else unchanged.push(d.record.name);
  }
  const listed = new Set(desired.map((d) => d.record.name));
  return { create, update, remove: [...current].filter((n) => !listed.has(n)), unchanged };
}

export async function applyProjectSync(plan: ProjectSyncPlan, dryRun: boolean, deps: ProjectDeps): Promise<void> {
  const verb = dryRun ? "would " : "";
  for (const p of plan.create) deps.say(`${verb}add project ${p.record.name}`);
  for (const p of plan.update) deps.say(`${verb}update project ${p.record.name}`);
  for (const n of plan.remove) deps.say(`${verb}remove project ${n}`);
  if (plan.create.length + plan.update.length + plan.remove.length === 0) {
    deps.say(`projects: nothing to change (${plan.unchanged.length} up to date)`);
    return;
  }
  if (dryRun) return;
  for (const p of [...plan.create, ...plan.update]) {
    await warnAbout(p, deps);
    await commitProject(p, deps);
  }
  for (const n of plan.remove) {
    await deps.projects.remove(n);
    await deps.repos.remove(n);
  }
  deps.say(`projects synced: ${plan.create.length} added, ${plan.update.length} updated, ${plan.remove.length} removed, ${plan.unchanged.length} unchanged`);
}
