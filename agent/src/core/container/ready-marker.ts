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

/**
 * A container claimed from the pool keeps its pool labels (engine 20.10 cannot relabel a live
 * container), so its marker is also the ownership record: the project it was claimed for, and
 * when (max_lifetime counts from the claim, not from the pool's create).
 */
export interface PoolClaim {
  readonly project: string;
  readonly claimedAtMs: number;
}

export function renderReadyMarker(containerId: string, account: ContainerAccount, claim: PoolClaim | null = null): string {
  const { name, uid, gid, home, shell } = account;
  const claimed = claim ? { claim: { project: claim.project, at: claim.claimedAtMs } } : {};
  return JSON.stringify({ v: VERSION, container: containerId, account: { name, uid, gid, home, shell }, ...claimed }) + "\n";
}

function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 31;
}

function isPath(v: unknown): v is string {
  return typeof v === "string" && PATH_RE.test(v);
}

/**
 * The account recorded in a marker, or null unless the marker is well formed and was written for
 * exactly this container and this user: anything else counts as "not ready". With `project` (a
 * pooled container), the marker must record a claim for exactly that project.
 */
export function parseReadyMarker(text: string, containerId: string, user: string, project?: string): ContainerAccount | null {
  const read = readMarker(text, containerId, user);
  if (!read) return null;
  if (project !== undefined && read.claim?.project !== project) return null;
  return read.account;
}

/** The claim of a pooled container's marker written for this container and user, or null. */
export function parseClaimMarker(text: string, containerId: string, user: string): { readonly account: ContainerAccount; readonly claim: PoolClaim } | null {
  const read = readMarker(text, containerId, user);
  return read?.claim ? { account: read.account, claim: read.claim } : null;
}

function claimOf(v: unknown): PoolClaim | null {
  if (typeof v !== "object" || v === null) return null;
  const { project, at } = v as Record<string, unknown>;
  return typeof project === "string" && typeof at === "number" && Number.isFinite(at) ? { project, claimedAtMs: at } : null;
}

function readMarker(text: string, containerId: string, user: string): { readonly account: ContainerAccount; readonly claim: PoolClaim | null } | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof doc !== "object" || doc === null) return null;
  const { v, container, account, claim } = doc as Record<string, unknown>;
  if (v !== VERSION || container !== containerId || typeof account !== "object" || account === null) return null;
  const { name, uid, gid, home, shell } = account as Record<string, unknown>;
  if (name !== user || !isId(uid) || !isId(gid) || !isPath(home) || !isPath(shell)) return null;
  return { account: { name: user, uid, gid, home, shell }, claim: claimOf(claim) };
}
