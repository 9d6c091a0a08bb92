import { posix } from "node:path";
import type { ContainerAccount, ExecPlan } from "../container/exec-plan.js";
import type { EnvironmentPlan, ProjectClone, SessionSettings } from "./environment-plan.js";

/**
 * What runs as the user inside a new container before its first session (dotfiles, repos,
 * on_create) and before every session (on_start), as exec plans. Pure. Git URLs, branches and
 * paths reach git as argv elements (`"$1"`), never as shell text; the scripts are the Podfile's
 * own, run by the account's shell as the user, like the commands a user types.
 */

export interface SetupStep {
  /** For the user's lines: `cloning dotfiles`, `on_create (1/2)`. */
  readonly label: string;
  readonly exec: ExecPlan;
  readonly timeoutMs: number;
}

/** A clone over a slow link still finishes; a hung remote does not hold a login for ever. */
export const CLONE_TIMEOUT_MS = 5 * 60_000;
/** One hook script (installing packages, seeding a database): long, but bounded. */
export const HOOK_TIMEOUT_MS = 10 * 60_000;

// Fixed scripts: the variable parts are positional parameters. A clone that is there already is
// left as it is: a persistent home keeps ~/dotfiles and the repos when its container is recreated
// (a changed Podfile or config), and git would refuse to clone into them, failing the whole setup.
const KEEP_CLONE = 'if [ -e "$2/.git" ]; then echo "podspawn: $2 is a clone from an earlier container; left as it is" >&2; exit 0; fi; ';
const CLONE = `${KEEP_CLONE}mkdir -p -- "$(dirname -- "$2")" && exec git clone --quiet -- "$1" "$2"`;
const CLONE_BRANCH = `${KEEP_CLONE}mkdir -p -- "$(dirname -- "$2")" && exec git clone --quiet --branch "$3" -- "$1" "$2"`;
const MKDIR = 'exec mkdir -p -- "$1"';
/**
 * The project's repository: $1 url, $2 path, $3 commit, $4 branch (absent: the default branch).
 * Cloned whole (the user works in it: history, other branches), then the checked-out branch is
 * set to the commit the node read. A clone that is there already (a persistent home kept it from
 * an earlier container) is the user's work: it is left exactly as it is.
 */
const CLONE_PROJECT = [
  'if [ -e "$2/.git" ]; then echo "podspawn: $2 is a clone from an earlier container; left as it is" >&2; exit 0; fi',
  'mkdir -p -- "$2" || exit',
  'if [ "$#" -ge 4 ]; then git clone --quiet --branch "$4" -- "$1" "$2"; else git clone --quiet -- "$1" "$2"; fi || exit',
  'git -C "$2" cat-file -e "$3^{commit}" 2>/dev/null || { echo "podspawn: commit $3, which this node read the project at, is not in $1 any more (podspawn update-project reads the branch again)" >&2; exit 1; }',
  'exec git -C "$2" reset --quiet --hard "$3"',
].join("\n");

/** Where sessions and hooks start: the workdir under the home, or the home. */
export function workdirOf(account: ContainerAccount, session: Pick<SessionSettings, "workdir">): string {
  return session.workdir === null ? account.home : posix.join(account.home, session.workdir);
}

/**
 * The environment of every exec in a Podfile environment (sessions, hooks, clones): the account's
 * own variables, then the Podfile's (PODSPAWN_USER and PODSPAWN_PROJECT among them). A Podfile
 * cannot change who the process is: HOME, USER, LOGNAME and SHELL stay the account's.
 */
export function sessionEnv(account: ContainerAccount, session: Pick<SessionSettings, "env">): string[] {
  const own = [`HOME=${account.home}`, `USER=${account.name}`, `LOGNAME=${account.name}`, `SHELL=${account.shell}`];
  const fixed = new Set(own.map((e) => e.slice(0, e.indexOf("="))));
  return [...own, ...session.env.filter((e) => !fixed.has(e.slice(0, e.indexOf("="))))];
}

function step(label: string, argv: readonly string[], account: ContainerAccount, plan: EnvironmentPlan, workdir: string, timeoutMs: number): SetupStep {
  return { label, timeoutMs, exec: { kind: "command", argv, tty: false, env: sessionEnv(account, plan.session), user: `${account.uid}:${account.gid}`, workdir } };
}

function numbered(name: string, i: number, n: number): string {
  return n === 1 ? name : `${name} (${i + 1}/${n})`;
}

function projectCloneStep(clone: ProjectClone, account: ContainerAccount, plan: EnvironmentPlan): SetupStep {
  const path = posix.join(account.home, clone.path);
  const argv = [account.shell, "-c", CLONE_PROJECT, "podspawn-setup", clone.url, path, clone.commit, ...(clone.branch === null ? [] : [clone.branch])];
  return step(`cloning the project into ~/${clone.path} (${clone.branch ?? "default branch"} at ${clone.commit.slice(0, 12)})`, argv, account, plan, account.home, CLONE_TIMEOUT_MS);
}

/**
 * First create only, in this order: the workdir (the project's clone makes it), the project's
 * repository, dotfiles (then their install), repos, on_create: hooks see every clone.
 */
export function createSteps(plan: EnvironmentPlan, account: ContainerAccount): SetupStep[] {
  const { setup } = plan;
  const home = account.home;
  const workdir = workdirOf(account, plan.session);
  const steps: SetupStep[] = [];
  if (setup.project) steps.push(projectCloneStep(setup.project, account, plan));
  else if (workdir !== home) steps.push(step("making the workdir", [account.shell, "-c", MKDIR, "podspawn-setup", workdir], account, plan, home, CLONE_TIMEOUT_MS));
  if (setup.dotfiles) {
    const dir = posix.join(home, setup.dotfiles.dir);
    steps.push(step("cloning dotfiles", [account.shell, "-c", CLONE, "podspawn-setup", setup.dotfiles.repo, dir], account, plan, home, CLONE_TIMEOUT_MS));
    if (setup.dotfiles.install !== null) steps.push(step("dotfiles install", [account.shell, "-c", setup.dotfiles.install], account, plan, dir, HOOK_TIMEOUT_MS));
  }
  for (const repo of setup.repos) {
    const path = posix.join(home, repo.path);
    const argv = repo.branch === null ? [account.shell, "-c", CLONE, "podspawn-setup", repo.url, path] : [account.shell, "-c", CLONE_BRANCH, "podspawn-setup", repo.url, path, repo.branch];
    steps.push(step(`cloning ${repo.path}`, argv, account, plan, home, CLONE_TIMEOUT_MS));
  }
  setup.onCreate.forEach((s, i) => steps.push(step(numbered("on_create", i, setup.onCreate.length), [account.shell, "-c", s], account, plan, workdir, HOOK_TIMEOUT_MS)));
  return steps;
}

/** Before every session. */
export function startSteps(plan: EnvironmentPlan, account: ContainerAccount): SetupStep[] {
  const n = plan.setup.onStart.length;
  return plan.setup.onStart.map((s, i) => step(numbered("on_start", i, n), [account.shell, "-c", s], account, plan, workdirOf(account, plan.session), HOOK_TIMEOUT_MS));
}

/** Whether a new container of this plan has anything to run before its first session. */
export function hasCreateSteps(plan: EnvironmentPlan): boolean {
  return plan.session.workdir !== null || plan.setup.project !== null || plan.setup.dotfiles !== null || plan.setup.repos.length > 0 || plan.setup.onCreate.length > 0;
}

/**
 * A session's exec in a Podfile environment: its workdir, and the Podfile's env under what the
 * session set itself (TERM, the forwarded agent's socket, the client's accepted variables), which
 * wins on a clash as it would over a login shell's profile. The account's own variables stay.
 */
export function withSessionSettings(exec: ExecPlan, account: ContainerAccount, session: Pick<SessionSettings, "env" | "workdir">): ExecPlan {
  const name = (e: string): string => e.slice(0, e.indexOf("="));
  const set = new Set(exec.env.map(name));
  return { ...exec, env: [...sessionEnv(account, session).filter((e) => !set.has(name(e))), ...exec.env], workdir: workdirOf(account, session) };
}
