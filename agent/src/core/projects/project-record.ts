import * as z from "zod";
import { validateProject } from "../container/project.js";
import { hint, parseYamlWith, refuse, via, type DeepReadonly } from "../config/schema-kit.js";
import { isBranchName, isGitUrl } from "../podfile/git-source.js";
import { PODFILE_MAX_BYTES } from "../podfile/parse.js";
import type { ProjectRepository } from "../podfile/plan.js";

/**
 * One project of a node's registry (`/etc/<instance>/projects/<name>.json`, root 0600): where its
 * environment comes from and a snapshot of its Podfile as it was when the admin added or last
 * updated it. The daemon plans logins from the snapshot alone, so a login never reads the admin's
 * files or a repository, and an edit reaches users only through `update-project` (or `sync`).
 */

/** Where the environment comes from; `update-project` reads the same place again. */
export type ProjectSource =
  /** The node's default environment under this project's name (its own container, nothing else). */
  | { readonly kind: "default" }
  /** A Podfile on the node, by absolute path. */
  | { readonly kind: "podfile"; readonly file: string }
  /** A git repository, cloned by the node and pinned to `commit`. */
  | { readonly kind: "repo"; readonly url: string; readonly branch: string | null; readonly path: string | null; readonly commit: string };

/**
 * The Podfile and every local file its `extends` chain read, by the absolute name the resolver
 * knew them by (for a repository, the path inside it with the repository as `/`).
 */
export interface PodfileSnapshot {
  readonly entry: string;
  readonly files: Readonly<Record<string, string>>;
}

export interface ProjectRecord {
  readonly version: 1;
  readonly name: string;
  readonly source: ProjectSource;
  /** null exactly for a `default` source. */
  readonly podfile: PodfileSnapshot | null;
  /** What an import (devcontainer.json) could not carry over, shown to the admin once and kept. */
  readonly notes: readonly string[];
}

/** Eleven Podfiles (one and ten levels of extends) at their cap fit, with room for JSON escapes. */
export const PROJECT_RECORD_MAX_BYTES = 4 * 1024 * 1024;
export const PROJECT_RECORD_SUFFIX = ".json";

const ABSOLUTE = hint(z.string().refine((p) => p.startsWith("/") && !p.includes("\0") && !p.split("/").includes("..")), { what: "an absolute path", allowed: "an absolute path without '..'" });
const COMMIT = hint(z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/), { what: "a commit id", allowed: "40 (or 64) hex digits" });
const URL = hint(z.string().refine((u) => isGitUrl(u) || (u.startsWith("/") && !u.includes("\0"))), { what: "a git URL", allowed: "a git URL or an absolute path" });
const BRANCH = hint(z.string().refine(isBranchName), { what: "a branch name" });
const REPO_PATH = hint(z.string().refine((p) => p !== "" && !p.startsWith("/") && !p.includes("\0") && !p.split("/").includes("..")), { what: "a path inside the repository", allowed: "relative, without '..'" });

const SOURCE = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("default") }),
  z.strictObject({ kind: z.literal("podfile"), file: ABSOLUTE }),
  z.strictObject({ kind: z.literal("repo"), url: URL, branch: BRANCH.nullable(), path: REPO_PATH.nullable(), commit: COMMIT }),
]);

const SNAPSHOT = z
  .strictObject({
    entry: ABSOLUTE,
    files: z.record(ABSOLUTE, hint(z.string().max(PODFILE_MAX_BYTES), { allowed: `at most ${PODFILE_MAX_BYTES} characters` })),
  })
  .superRefine((s, ctx) => {
    if (!Object.hasOwn(s.files, s.entry)) refuse(ctx, "does not hold the entry file", { path: ["files"] });
  });

export const PROJECT_RECORD_SCHEMA = z
  .strictObject({
    version: z.literal(1),
    name: hint(z.string(), { allowed: "a project name" }).transform(via((n: string) => validateProject(n, "name"))),
    source: SOURCE,
    podfile: SNAPSHOT.nullable(),
    notes: z.array(z.string().max(4096)).max(1000),
  })
  .superRefine((r, ctx) => {
    if ((r.source.kind === "default") !== (r.podfile === null)) refuse(ctx, r.podfile === null ? "is missing for a project with a Podfile" : "must be null for the default environment", { path: ["podfile"] });
  });

/** The record in `text` (from `file`), validated; errors read `file:line: path: problem`. */
export function parseProjectRecord(text: string, file: string): ProjectRecord {
  return parseYamlWith(PROJECT_RECORD_SCHEMA, text, file, { maxBytes: PROJECT_RECORD_MAX_BYTES }) as DeepReadonly<z.output<typeof PROJECT_RECORD_SCHEMA>> as ProjectRecord;
}

/** Stable text: the same record always gives the same bytes (an unchanged update writes nothing). */
export function formatProjectRecord(record: ProjectRecord): string {
  const files = Object.fromEntries(Object.entries(record.podfile?.files ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const podfile = record.podfile && { entry: record.podfile.entry, files };
  return JSON.stringify({ version: 1, name: record.name, source: record.source, podfile, notes: record.notes }, null, 2) + "\n";
}

/** The repository a project's Podfile was read from, as its plan takes it (`mount: copy`); null without one. */
export function projectRepository(source: ProjectSource): ProjectRepository | null {
  return source.kind === "repo" ? { url: source.url, branch: source.branch, commit: source.commit } : null;
}

/** One line for list-projects and the admin's messages. */
export function describeSource(source: ProjectSource): string {
  switch (source.kind) {
    case "default":
      return "the node's default environment";
    case "podfile":
      return `Podfile ${source.file}`;
    case "repo":
      return `${source.url}${source.branch ? ` (${source.branch})` : ""}${source.path ? ` ${source.path}` : ""} at ${source.commit.slice(0, 12)}`;
  }
}
