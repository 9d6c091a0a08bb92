import type { ContainerAccount } from "./exec-plan.js";

/**
 * Plan the pod user's account inside an image from its /etc/passwd and /etc/group, with the user's
 * own host-unique id. Pure, so the odd images (an entry of the same name, no /etc/group, no bash,
 * the id already taken) are unit-tested rather than discovered in production.
 */
export interface AccountFiles {
  readonly account: ContainerAccount;
  /** New file contents, or null when the image already has the entry. */
  readonly passwd: string | null;
  readonly group: string | null;
}

/**
 * Without a user-namespace remap a container uid is the same number on the host, so the uid a
 * user's processes run as is their identity there if they ever escape the container. Each pod
 * user gets a number of their own: POD_ID_BASE + the uid of their host account (unique on the
 * host by construction, stable while the account exists, no state to keep). The base is above
 * Debian's UID_MAX (60000), systemd's dynamic range (61184-65519) and nobody (65534), so an
 * escaped process runs as no host account and cannot signal or ptrace another user's processes.
 */
export const POD_ID_BASE = 100_000;
/** The last uid Linux hands out (2^32 - 2; -1 means "no change" to the syscalls). */
const MAX_ID = 4_294_967_294;

/** The container uid and gid of the pod user whose host account has `hostUid`. */
export function podAccountId(hostUid: number): number {
  if (!Number.isInteger(hostUid) || hostUid < 1 || POD_ID_BASE + hostUid > MAX_ID) throw new RangeError(`host uid ${hostUid} has no pod id (expected an integer from 1 to ${MAX_ID - POD_ID_BASE})`);
  return POD_ID_BASE + hostUid;
}

/** The image already gives the pod user's id to another entry; reusing it would merge two identities. */
export class AccountIdTaken extends Error {
  constructor(
    readonly id: number,
    readonly holder: string,
  ) {
    super(`the image's ${holder} already uses id ${id}, the pod user's own`);
  }
}

function withLine(text: string, line: string): string {
  return (text === "" || text.endsWith("\n") ? text : text + "\n") + line + "\n";
}

function withoutEntry(text: string, name: string): string {
  return text
    .split("\n")
    .filter((l) => !l.startsWith(`${name}:`))
    .join("\n");
}

function holderOf(text: string, field: number, id: number, except: string, what: string): string | null {
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (line.includes(":") && f[0] !== except && Number(f[field]) === id) return `${what} ${JSON.stringify(f[0])}`;
  }
  return null;
}

/**
 * The pod user's entries with uid = gid = `id` (podAccountId). An entry of the same name that the
 * image brings keeps its home and shell but not its ids: the user's processes must run as their
 * own number on every image. Throws AccountIdTaken when another entry holds the id.
 */
export function planAccount(user: string, passwd: string, group: string, hasBash: boolean, id: number, preferredShell: string | null = null): AccountFiles {
  const taken = holderOf(passwd, 2, id, user, "user") ?? holderOf(group, 2, id, user, "group");
  if (taken !== null) throw new AccountIdTaken(id, taken);
  const existing = passwd.split("\n").find((l) => l.startsWith(`${user}:`))?.split(":");
  const home = existing?.[5] || `/home/${user}`;
  // A Podfile's `shell` (the caller checked the image has it) wins over the image's entry.
  const shell = preferredShell ?? (existing?.[6] || (hasBash ? "/bin/bash" : "/bin/sh"));
  const passwdLine = `${user}:x:${id}:${id}:podspawn user:${home}:${shell}`;
  const groupLine = `${user}:x:${id}:`;
  const passwdSame = passwd.split("\n").includes(passwdLine);
  const groupSame = group.split("\n").includes(groupLine);
  return {
    account: { name: user, uid: id, gid: id, home, shell },
    passwd: passwdSame ? null : withLine(withoutEntry(passwd, user), passwdLine),
    group: groupSame ? null : withLine(withoutEntry(group, user), groupLine),
  };
}
