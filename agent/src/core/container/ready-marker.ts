import type { ContainerAccount } from "./exec-plan.js";

/**
 * The ready marker: written by the daemon into a new container in the same archive call as the
 * pod user's passwd, group and home, and last in that archive, so its presence proves the account
 * was written. A container without one (a daemon that crashed between create and write) is
 * replaced, never attached to. It carries the container's own id, so a marker baked into an image
 * (`docker commit` of a pod) proves nothing about a container made from it, and the account, so
 * adopting a container after a restart costs one read instead of re-planning from /etc/passwd.
 * It lives in the container's own filesystem, never in the persistent home volume, which outlives
 * the container.
 */
export const READY_MARKER_DIR = "/etc/podspawn";
export const READY_MARKER_PATH = `${READY_MARKER_DIR}/ready`;

const VERSION = 1;
/** Absolute, and nothing that would break a passwd line or an argv. */
const PATH_RE = /^\/[^\0\n:]*$/;

export function renderReadyMarker(containerId: string, account: ContainerAccount): string {
  const { name, uid, gid, home, shell } = account;
  return JSON.stringify({ v: VERSION, container: containerId, account: { name, uid, gid, home, shell } }) + "\n";
}

function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 31;
}

function isPath(v: unknown): v is string {
  return typeof v === "string" && PATH_RE.test(v);
}

/**
 * The account recorded in a marker, or null unless the marker is well formed and was written for
 * exactly this container and this user: anything else counts as "not ready".
 */
export function parseReadyMarker(text: string, containerId: string, user: string): ContainerAccount | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof doc !== "object" || doc === null) return null;
  const { v, container, account } = doc as Record<string, unknown>;
  if (v !== VERSION || container !== containerId || typeof account !== "object" || account === null) return null;
  const { name, uid, gid, home, shell } = account as Record<string, unknown>;
  if (name !== user || !isId(uid) || !isId(gid) || !isPath(home) || !isPath(shell)) return null;
  return { name: user, uid, gid, home, shell };
}
