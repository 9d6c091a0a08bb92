/**
 * Where a session's forwarded ssh agent appears inside the container. The directory chain is made
 * by the daemon (root) and must stay root-owned and unwritable by the user: the daemon reaches it
 * through /proc/<pid>/root, where an absolute symlink the user planted would resolve on the HOST.
 */
export const AGENT_SOCKET_DIR = "/run/podspawn/agent";

/** The directories from the container's root down to AGENT_SOCKET_DIR, each made and checked. */
export const AGENT_SOCKET_DIR_CHAIN: readonly string[] = ["/run", "/run/podspawn", AGENT_SOCKET_DIR];

/** One socket per session: the session id and a random tag, so a stale file never collides. */
export function agentSocketName(sessionId: number, tag: string): string {
  if (!Number.isInteger(sessionId) || sessionId < 1) throw new Error(`session id ${sessionId} is not a positive integer`);
  if (!/^[0-9a-f]{8,32}$/.test(tag)) throw new Error(`tag ${JSON.stringify(tag)} is not 8-32 hex digits`);
  return `s${sessionId}-${tag}.sock`;
}

/** What lstat says about one directory of the chain, as far as the decision needs. */
export interface DirFacts {
  readonly isDirectory: boolean;
  readonly isSymlink: boolean;
  readonly uid: number;
  readonly mode: number;
}

/**
 * Why a directory of the chain may not hold the agent socket, or null when it may: it must be a
 * real directory (no symlink), owned by root, not writable by group or others, so nobody but root
 * can swap an entry of it for a symlink between the check and the bind.
 */
export function unsafeAgentDir(path: string, facts: DirFacts): string | null {
  if (facts.isSymlink) return `${path} is a symlink`;
  if (!facts.isDirectory) return `${path} is not a directory`;
  if (facts.uid !== 0) return `${path} is owned by uid ${facts.uid}, not root`;
  if ((facts.mode & 0o022) !== 0) return `${path} is writable by group or others (mode ${(facts.mode & 0o7777).toString(8)})`;
  return null;
}
