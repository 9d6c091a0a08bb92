import { readFile } from "node:fs/promises";
import { renderAuthorizedLine } from "../core/users/authorized-line.js";
import { describeError } from "../core/errors.js";
import { MAX_REGISTRY_BYTES, parseRegistry, REGISTRY_SUFFIX } from "../core/users/key-registry.js";
import type { Layout } from "../core/host/layout.js";
import { isValidUsername } from "../core/users/username.js";

/**
 * The AuthorizedKeysCommand (`auth-keys %u %t %k`). sshd runs it as the keys user twice per offered
 * key, so it is stateless and side-effect free, touches no Docker, and fails CLOSED: on any
 * internal error nothing reaches stdout and the exit status is non-zero. Imports stay tiny
 * (node:fs and our core) because its start-up time is paid on every login attempt.
 */

export const AUTH_KEYS_USAGE = "Usage: podspawn auth-keys USER [TYPE] [KEY]\n";
export const AUTH_KEYS_DEADLINE_MS = 2000;

export interface AuthKeysOutcome {
  readonly code: number;
  /** Written only when code is 0. */
  readonly stdout: string;
  readonly stderr: string;
}

export type ReadText = (path: string) => Promise<string>;

const readRegistryFile: ReadText = async (path) => {
  const buf = await readFile(path);
  if (buf.length > MAX_REGISTRY_BYTES) throw new Error(`${path} is ${buf.length} bytes, more than ${MAX_REGISTRY_BYTES}`);
  return buf.toString("utf8");
};

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Compute the answer without writing anything, so the caller can print it all or nothing. */
export async function computeAuthorizedKeys(argv: readonly string[], layout: Layout, read: ReadText = readRegistryFile): Promise<AuthKeysOutcome> {
  if (argv.length < 1 || argv.length > 3) return { code: 2, stdout: "", stderr: AUTH_KEYS_USAGE };
  const [user, type, key] = argv as [string, string | undefined, string | undefined];
  // sshd only asks for accounts that exist, but the name still ends up in a path: never trust it.
  if (!isValidUsername(user)) return { code: 1, stdout: "", stderr: `podspawn auth-keys: refusing invalid user name ${JSON.stringify(user)}\n` };
  const path = `${layout.usersDir}/${user}${REGISTRY_SUFFIX}`;
  let text: string;
  try {
    text = await read(path);
  } catch (err) {
    // Not one of our users: no keys, which sshd treats as "try the next method".
    if (errno(err) === "ENOENT") return { code: 0, stdout: "", stderr: "" };
    return { code: 1, stdout: "", stderr: `podspawn auth-keys: cannot read ${path}: ${describeError(err)}\n` };
  }
  try {
    const lines = parseRegistry(text, path)
      .filter((k) => (type === undefined || k.type === type) && (key === undefined || k.base64 === key))
      .map((k) => renderAuthorizedLine(layout.command, user, k) + "\n");
    return { code: 0, stdout: lines.join(""), stderr: "" };
  } catch (err) {
    return { code: 1, stdout: "", stderr: `podspawn auth-keys: ${describeError(err)}\n` };
  }
}

export interface AuthKeysIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/**
 * Run with a deadline: if the answer is not ready in time, print nothing and fail. Returns
 * `timedOut` so the entry point can end the process even if a read is still hanging.
 */
export async function runAuthKeys(
  argv: readonly string[],
  layout: Layout,
  io: AuthKeysIo,
  options: { deadlineMs?: number; read?: ReadText } = {},
): Promise<{ code: number; timedOut: boolean }> {
  const deadlineMs = options.deadlineMs ?? AUTH_KEYS_DEADLINE_MS;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), deadlineMs);
  });
  let outcome: AuthKeysOutcome | "timeout";
  try {
    outcome = await Promise.race([computeAuthorizedKeys(argv, layout, options.read), deadline]);
  } catch (err) {
    outcome = { code: 1, stdout: "", stderr: `podspawn auth-keys: ${describeError(err)}\n` };
  } finally {
    clearTimeout(timer);
  }
  if (outcome === "timeout") {
    io.stderr.write(`podspawn auth-keys: no answer within ${deadlineMs} ms; refusing\n`);
    return { code: 1, timedOut: true };
  }
  if (outcome.stderr) io.stderr.write(outcome.stderr);
  if (outcome.code === 0 && outcome.stdout) io.stdout.write(outcome.stdout);
  return { code: outcome.code, timedOut: false };
}
