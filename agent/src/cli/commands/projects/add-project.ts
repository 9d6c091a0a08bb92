import { InputError } from "../../../core/errors.js";
import { GIT_URL_ALLOWED, isBranchName, isGitUrl } from "../../../core/podfile/git-source.js";
import { addProject } from "../../../admin/projects/add-project.js";
import type { SourceRequest } from "../../../admin/projects/load-project.js";
import { defaultProjectDeps, type ProjectDeps } from "../../../admin/projects/project-deps.js";
import { defineCommand, type Command, type CommandIo } from "../../command.js";

export type ProjectDepsFor = (io: CommandIo) => ProjectDeps;
export const projectDepsFor: ProjectDepsFor = (io) => defaultProjectDeps(io.layout, io);

interface SourceFlags {
  readonly podfile: string | undefined;
  readonly repo: string | undefined;
  readonly branch: string | undefined;
  readonly path: string | undefined;
}

/** The flags as one source; every wrong combination is refused by name. */
export function sourceOf(f: SourceFlags): SourceRequest {
  if (f.podfile !== undefined && f.repo !== undefined) throw new InputError("--podfile", "cannot be given with --repo", "one of --podfile FILE, --repo URL, or neither for the default environment");
  if (f.repo === undefined) {
    for (const [flag, v] of [["--branch", f.branch], ["--path", f.path]] as const) if (v !== undefined) throw new InputError(flag, "only goes with --repo", "--repo URL [--branch B] [--path PODFILE]");
    return f.podfile === undefined ? { kind: "default" } : { kind: "podfile", file: f.podfile };
  }
  if (!isGitUrl(f.repo) && !f.repo.startsWith("/")) throw new InputError("--repo", `${JSON.stringify(f.repo)} is not a git URL`, `${GIT_URL_ALLOWED}, or an absolute path`);
  if (f.branch !== undefined && !isBranchName(f.branch)) throw new InputError("--branch", `${JSON.stringify(f.branch)} is not a branch name`, "letters, digits and ._/+-, no '..', not starting with '-'");
  if (f.path !== undefined && (f.path === "" || f.path.startsWith("/") || f.path.split("/").includes(".."))) throw new InputError("--path", `${JSON.stringify(f.path)} is not a path inside the repository`, "relative, without '..', e.g. podfiles/web.yaml");
  return { kind: "repo", url: f.repo, branch: f.branch ?? null, path: f.path ?? null };
}

export function makeAddProjectCommand(deps: ProjectDepsFor = projectDepsFor): Command {
  return defineCommand(
    {
      name: "add-project",
      summary: "register a project: its environment from a Podfile, a repository, or the default",
      args: [{ name: "NAME", description: "the project (what users select with PODSPAWN_PROJECT or NAME.pod)" }],
      flags: {
        podfile: { type: "string", value: "FILE", description: "a Podfile on this node (its extends are read from its directory)" },
        repo: { type: "string", value: "URL", description: "a git repository the node clones; its Podfile is read from it and the commit pinned" },
        branch: { type: "string", value: "B", description: "the repository's branch (with --repo)", defaultText: "its default branch" },
        path: { type: "string", value: "PODFILE", description: "the Podfile's path in the repository (with --repo)", defaultText: ".podspawn/podfile.yaml, podfile.yaml, else a devcontainer.json" },
      },
      description: `Registers project NAME on this node. Its environment comes from a Podfile (--podfile),
from a repository (--repo: cloned with a timeout, pinned to the commit it is at now; a
devcontainer.json is imported where no Podfile exists, and what it cannot carry over is
listed), or, with neither flag, the node's default environment under its own name. The
Podfile and everything it extends are checked against this node and kept as they are now:
edits reach users through update-project. The image is built at the first login.`,
    },
    async ({ flags, args }, io) => {
      await addProject({ name: args[0] as string, source: sourceOf(flags) }, deps(io));
      return 0;
    },
  );
}

export const addProjectCommand: Command = makeAddProjectCommand();
