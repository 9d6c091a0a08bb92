import type { ContainerAccount } from "./exec-plan.js";

/**
 * Plan the pod user's account inside an image from its /etc/passwd and /etc/group: reuse an entry
 * of the same name, else take the first free uid/gid >= FIRST_POD_ID. Pure, so the odd images (uid 1000
 * taken by `ubuntu`, no /etc/group, no bash) are unit-tested rather than discovered in production.
 */
export interface AccountFiles {
  readonly account: ContainerAccount;
  /** New file contents, or null when the image already has the entry. */
  readonly passwd: string | null;
  readonly group: string | null;
}

function ids(text: string, field: number): Set<number> {
  const out = new Set<number>();
  for (const line of text.split("\n")) {
    const v = Number(line.split(":")[field]);
    if (line.includes(":") && Number.isInteger(v)) out.add(v);
  }
  return out;
}

/**
 * Without a user-namespace remap a container uid is the same number on the host. Pod accounts
 * start above Debian's UID_MAX (60000) and systemd's dynamic range (61184-65519), so a process
 * that escaped its container would not run as any host account.
 */
export const FIRST_POD_ID = 70000;

function firstFree(used: Set<number>, from = FIRST_POD_ID): number {
  let id = from;
  while (used.has(id)) id++;
  return id;
}

function withLine(text: string, line: string): string {
  return (text === "" || text.endsWith("\n") ? text : text + "\n") + line + "\n";
}

export function planAccount(user: string, passwd: string, group: string, hasBash: boolean): AccountFiles {
  const shell = hasBash ? "/bin/bash" : "/bin/sh";
  const existing = passwd.split("\n").find((l) => l.startsWith(`${user}:`));
  if (existing) {
    const f = existing.split(":");
    const account = { name: user, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || `/home/${user}`, shell: f[6] || shell };
    return { account, passwd: null, group: null };
  }
  const groupLine = group.split("\n").find((l) => l.startsWith(`${user}:`));
  const gid = groupLine ? Number(groupLine.split(":")[2]) : firstFree(ids(group, 2));
  const uid = firstFree(ids(passwd, 2), gid);
  const home = `/home/${user}`;
  const account = { name: user, uid, gid, home, shell };
  return {
    account,
    passwd: withLine(passwd, `${user}:x:${uid}:${gid}:podspawn user:${home}:${shell}`),
    group: groupLine ? null : withLine(group, `${user}:x:${gid}:`),
  };
}
