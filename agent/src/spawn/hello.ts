import { fstatSync, readFileSync } from "node:fs";
import { isValidUsername } from "../core/users/username.js";
import type { SpawnIo } from "./io.js";

/** The HELLO frame's JSON, whether this session has a terminal, and whether it offers its pipes. */
export interface Hello {
  readonly tty: boolean;
  readonly json: string;
  /** We offered our pipes: read no stdin until the daemon's STDIO_MODE says `relay`. */
  readonly offersPipes: boolean;
}

/**
 * sshd gives a command without a PTY pipes as stdin, stdout and stderr. Only pipes can be
 * reopened by the daemon through /proc (a socket cannot), so only then is our pid offered.
 */
export function stdioArePipes(isFifo: (fd: number) => boolean = (fd) => fstatSync(fd).isFIFO()): boolean {
  try {
    return [0, 1, 2].every(isFifo);
  } catch {
    return false;
  }
}

export function parseUserFlag(argv: readonly string[]): string | null {
  const i = argv.indexOf("--user");
  const v = i >= 0 ? argv[i + 1] : undefined;
  return v !== undefined && isValidUsername(v) ? v : null;
}

/**
 * `--project P` of the forced command: a key line can pin its logins to one project, which the
 * user's SetEnv cannot override. Validated by the daemon like PODSPAWN_PROJECT.
 */
export function parseProjectFlag(argv: readonly string[]): string | null {
  const i = argv.indexOf("--project");
  return i >= 0 ? (argv[i + 1] ?? null) : null;
}

/**
 * The public key sshd accepted, from the ExposeAuthInfo file (`publickey <type> <base64>` lines;
 * the last one is the method that succeeded). Only for the audit log: failures are ignored.
 */
export function acceptedKey(path: string | undefined): string | null {
  if (!path || !path.startsWith("/")) return null;
  try {
    const lines = readFileSync(path, "utf8").slice(0, 16 * 1024).split("\n").filter((l) => l.startsWith("publickey "));
    return lines.length ? (lines[lines.length - 1] as string).slice("publickey ".length).trim() : null;
  } catch {
    return null;
  }
}

/** The forwarded agent's socket sshd made for this session (ssh -A), or null. */
export function agentSocketOf(env: NodeJS.ProcessEnv): string | null {
  const path = env["SSH_AUTH_SOCK"];
  return path !== undefined && path.startsWith("/") && path.length < 108 ? path : null;
}

/** Field 22 of /proc/self/stat: with the pid, names this very process (a reused pid has another). */
export function ownStartTime(stat: string = readFileSync("/proc/self/stat", "latin1")): string {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
}

/** What the daemon is asked for: sshd's view of the session. The daemon validates all of it. */
export function buildHello(io: SpawnIo, projectFlag: string | null = null, pipes: () => boolean = stdioArePipes): Hello {
  const tty = Boolean(io.env["SSH_TTY"]) && io.stdin.isTTY === true;
  const offersPipes = !tty && pipes();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(io.env)) if ((k === "LANG" || k === "LANGUAGE" || k.startsWith("LC_")) && v !== undefined) env[k] = v;
  const hello = {
    v: 1,
    command: io.env["SSH_ORIGINAL_COMMAND"] ?? null,
    tty,
    cols: tty ? io.stdout.columns || 80 : 0,
    rows: tty ? io.stdout.rows || 24 : 0,
    term: io.env["TERM"] ?? null,
    env,
    project: projectFlag ?? io.env["PODSPAWN_PROJECT"] ?? null,
    authKey: acceptedKey(io.env["SSH_USER_AUTH"]),
    // Whether, never where: spawn itself connects to the socket for each agent channel.
    agent: agentSocketOf(io.env) !== null,
    ...(offersPipes ? { stdio: { pid: process.pid, start: ownStartTime() } } : {}),
  };
  return { tty, json: JSON.stringify(hello), offersPipes };
}
