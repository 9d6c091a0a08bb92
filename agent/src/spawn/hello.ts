import { readFileSync } from "node:fs";
import { isValidUsername } from "../core/users/username.js";
import type { SpawnIo } from "./io.js";

/** The HELLO frame's JSON, and whether this session has a terminal. */
export interface Hello {
  readonly tty: boolean;
  readonly json: string;
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

/** What the daemon is asked for: sshd's view of the session. The daemon validates all of it. */
export function buildHello(io: SpawnIo, projectFlag: string | null = null): Hello {
  const tty = Boolean(io.env["SSH_TTY"]) && io.stdin.isTTY === true;
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
  };
  return { tty, json: JSON.stringify(hello) };
}
