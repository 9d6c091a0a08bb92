import { podIdProblem, primaryGroupProblem, type PrimaryGroupFacts } from "../core/users/user-plan.js";
import { podAccountId } from "../core/container/account-plan.js";
import { chmod, chown, mkdir, readFile, rm, stat } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { userSocketDir, userSocketPath, type Layout } from "../core/host/layout.js";
import { listRegistryUsers } from "../adapters/fs/user-registry.js";
import type { Logger } from "./log.js";

/**
 * One listening socket per pod user, in a directory only that user can enter:
 * `/run/<instance>/u/<user>/` is root:<user's private group> 0710. Node has no SO_PEERCRED, so the
 * kernel's permission check on the directory is what proves who is connecting: a connection
 * accepted on alice's socket comes from alice (or root). That holds only while the group is
 * alice's alone, so an account whose primary group is shared gets no socket at all.
 */
export class UserSockets {
  private readonly servers = new Map<string, Server>();
  /** Container uid/gid of each user listened for, from the host accounts read at the last sync. */
  private readonly podIds = new Map<string, number>();

  constructor(
    private readonly layout: Layout,
    private readonly onConnection: (socket: Socket, user: string) => void,
    private readonly log: Logger,
    /** Where accounts and groups are read; tests point these at files of their own. */
    private readonly accountFiles: { readonly passwd: string; readonly group: string } = { passwd: "/etc/passwd", group: "/etc/group" },
  ) {}

  users(): string[] {
    return [...this.servers.keys()];
  }

  /** The user's host-unique container uid/gid, or null if no socket is listening for them. */
  podIdOf(user: string): number | null {
    return this.servers.has(user) ? (this.podIds.get(user) ?? null) : null;
  }

  /** Bring the listeners in line with the key registry and the host's accounts. */
  async sync(): Promise<void> {
    const wanted = await listRegistryUsers(this.layout);
    const { uids, gids } = await hostAccountIds(this.accountFiles.passwd);
    const groups = await groupEntries(this.accountFiles.group);
    const refused = new Set<string>();
    for (const user of wanted) {
      const gid = gids.get(user);
      if (gid === undefined) {
        this.log({ kind: "warning", message: `user ${user} has keys but no host account; not listening for it` });
        continue;
      }
      const problem = primaryGroupProblem(user, primaryGroupFacts(user, gid, gids, groups)) ?? podIdProblem(user, uids);
      if (problem) {
        // Anyone in that group could connect as this user: no socket rather than a shared one.
        this.log({ kind: "warning", message: `not listening for ${user}: ${problem}` });
        refused.add(user);
        continue;
      }
      this.podIds.set(user, podAccountId(uids.get(user) ?? 0));
      if (!this.servers.has(user)) await this.listen(user, gid);
    }
    for (const user of [...this.servers.keys()]) {
      if (!wanted.includes(user) || !gids.has(user) || refused.has(user)) await this.unlisten(user);
    }
  }

  private async listen(user: string, gid: number): Promise<void> {
    const dir = userSocketDir(this.layout, user);
    await mkdir(`${this.layout.runDir}/u`, { recursive: true, mode: 0o755 });
    await mkdir(dir, { recursive: true, mode: 0o710 });
    await chown(dir, 0, gid);
    await chmod(dir, 0o710);
    const path = userSocketPath(this.layout, user);
    await rm(path, { force: true });
    const server = createServer((socket) => this.onConnection(socket, user));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    // Access is decided by the directory; the socket itself must be connectable by its owner group.
    await chmod(path, 0o666);
    this.servers.set(user, server);
    this.log({ kind: "listening", user });
  }

  private async unlisten(user: string): Promise<void> {
    const server = this.servers.get(user);
    this.servers.delete(user);
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(userSocketDir(this.layout, user), { recursive: true, force: true });
    this.log({ kind: "unlistening", user });
  }

  async close(): Promise<void> {
    for (const user of [...this.servers.keys()]) {
      const server = this.servers.get(user);
      this.servers.delete(user);
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}

/** user -> uid and user -> primary gid, from one read of /etc/passwd (accounts are created with a private group). */
export async function hostAccountIds(passwdFile = "/etc/passwd"): Promise<{ uids: Map<string, number>; gids: Map<string, number> }> {
  const uids = new Map<string, number>();
  const gids = new Map<string, number>();
  for (const line of (await readFile(passwdFile, "utf8")).split("\n")) {
    const f = line.split(":");
    if (f.length < 7 || !f[0]) continue;
    if (Number.isInteger(Number(f[2]))) uids.set(f[0], Number(f[2]));
    if (Number.isInteger(Number(f[3]))) gids.set(f[0], Number(f[3]));
  }
  return { uids, gids };
}

/** /etc/group entries by gid: name and listed members. */
export async function groupEntries(groupFile = "/etc/group"): Promise<Map<number, { name: string; members: string[] }>> {
  const out = new Map<number, { name: string; members: string[] }>();
  for (const line of (await readFile(groupFile, "utf8")).split("\n")) {
    const f = line.split(":");
    if (f.length >= 4 && f[0] && Number.isInteger(Number(f[2])) && !out.has(Number(f[2]))) out.set(Number(f[2]), { name: f[0], members: (f[3] ?? "").split(",").filter(Boolean) });
  }
  return out;
}

export function primaryGroupFacts(user: string, gid: number, gids: ReadonlyMap<string, number>, groups: ReadonlyMap<number, { name: string; members: string[] }>): PrimaryGroupFacts {
  const g = groups.get(gid);
  return { name: g?.name ?? null, members: g?.members ?? [], sharedBy: [...gids].filter(([name, other]) => name !== user && other === gid).map(([name]) => name) };
}

export async function isSocket(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}
