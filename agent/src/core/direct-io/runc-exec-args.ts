import type { ExecPlan } from "../container/exec-plan.js";
import { WAITER_EXTRA_FDS, waiterArgv } from "./session-waiter.js";

/** How the daemon reaches the runc that runs the engine's containers. */
export interface RuncTarget {
  /** Docker's state dir for runc containers (the `--root` its shim passes). */
  readonly root: string;
  /** The engine's cgroup driver is systemd (runc then needs `--systemd-cgroup`). */
  readonly systemdCgroup: boolean;
  /** Where runc's own log lines go instead of the user's stderr. */
  readonly logFile: string;
}

const CONTAINER_ID = /^[0-9a-f]{64}$/;

/**
 * `runc exec` of the plan inside the container, as an argv (never a shell string). Only the
 * plan's argv carries user text, and it comes after the container id, where runc parses no more
 * options, and after the waiter's fixed script, as its positional parameters (never part of it). Everything else (user, cwd, env) was decided by the daemon, as for the engine's exec;
 * runc takes the rest of the process (capabilities, seccomp, AppArmor, no-new-privileges, rlimits,
 * cgroups, namespaces) from the container's own spec, as the engine's exec does.
 */
export function runcExecArgs(target: RuncTarget, containerId: string, plan: ExecPlan, pidFile: string): string[] {
  if (!CONTAINER_ID.test(containerId)) throw new Error(`not a full container id: ${JSON.stringify(containerId)}`);
  if (plan.tty) throw new Error("runc exec here is for sessions without a terminal");
  if (!/^\d+:\d+$/.test(plan.user)) throw new Error(`exec user must be uid:gid, got ${JSON.stringify(plan.user)}`);
  const global = ["--root", target.root, "--log", target.logFile, "--log-format", "json", ...(target.systemdCgroup ? ["--systemd-cgroup"] : [])];
  const env = plan.env.flatMap((e) => ["--env", e]);
  // Detached: the process keeps runc's stdio (the user's pipes) and runc copies nothing; the
  // waiter (session-waiter.ts) reports the exit status runc can no longer wait for.
  return [...global, "exec", "--detach", "--preserve-fds", String(WAITER_EXTRA_FDS), "--user", plan.user, "--cwd", plan.workdir, ...env, "--pid-file", pidFile, containerId, ...waiterArgv(plan.argv)];
}

/** `runc --version`'s first line -> [major, minor, patch], or null. */
export function runcVersionOf(text: string): [number, number, number] | null {
  const m = /^runc version (\d+)\.(\d+)\.(\d+)/m.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** The oldest runc the direct path is checked against (Debian 12 ships 1.1.5). */
export const MIN_RUNC: readonly [number, number, number] = [1, 1, 0];

export function runcVersionProblem(text: string): string | null {
  const v = runcVersionOf(text);
  if (v === null) return `runc --version said ${JSON.stringify(text.slice(0, 80))}`;
  for (let i = 0; i < 3; i++) {
    if ((v[i] as number) > (MIN_RUNC[i] as number)) return null;
    if ((v[i] as number) < (MIN_RUNC[i] as number)) return `runc ${v.join(".")} is older than ${MIN_RUNC.join(".")}`;
  }
  return null;
}

/** What `docker info` says, in our words. */
export interface EngineRuntimeFacts {
  readonly defaultRuntime: string;
  /** runtime name -> its binary (`path`), as the engine reports them. */
  readonly runtimes: Readonly<Record<string, string>>;
  readonly cgroupDriver: string;
  readonly securityOptions: readonly string[];
}

/** Why the engine's containers cannot be run by `runc exec` from outside, or null. */
export function engineRuntimeProblem(f: EngineRuntimeFacts): string | null {
  // Remapped or rootless engines give container uids another meaning on the host.
  if (f.securityOptions.some((o) => o.includes("name=userns") || o.includes("name=rootless"))) return "the engine remaps user namespaces (userns-remap or rootless)";
  const runcPath = f.runtimes["runc"];
  if (runcPath === undefined) return "the engine has no runtime named runc";
  if (!/(^|\/)runc$/.test(runcPath)) return `the engine's runc runtime is ${JSON.stringify(runcPath)}`;
  if (f.cgroupDriver !== "cgroupfs" && f.cgroupDriver !== "systemd") return `unknown cgroup driver ${JSON.stringify(f.cgroupDriver)}`;
  return null;
}
