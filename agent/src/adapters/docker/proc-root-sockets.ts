import { chmod, chown, lstat, mkdir, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { AGENT_SOCKET_DIR, AGENT_SOCKET_DIR_CHAIN, unsafeAgentDir } from "../../core/container/agent-socket.js";
import { SocketUnavailable, type ContainerListener, type ContainerSockets, type SocketOwner } from "../../core/ports/container-sockets.js";
import { pidIsContainers, type InitProcessOf } from "./container-pid.js";

export type { InitProcessOf } from "./container-pid.js";

/**
 * Sockets inside runc containers, bound by the daemon through /proc/<init pid>/root: the socket
 * inode lives in the container's own filesystem, so only processes there can reach it, and no
 * host path or mount is involved. Measured here: ~3 ms per listen. Every directory on the way is
 * lstat'ed first: a symlink in the container's tree would be followed relative to the HOST's root
 * (the daemon's), so only real, root-owned, non-writable directories are used.
 *
 * gVisor (runsc) keeps the container's filesystem inside its sandbox, where a host bind is never
 * seen: such containers get no socket (SocketUnavailable), and the session goes on without an agent.
 */
export class ProcRootSockets implements ContainerSockets {
  constructor(
    private readonly initProcessOf: InitProcessOf,
    private readonly procRoot = "/proc",
  ) {}

  async listen(containerId: string, name: string, owner: SocketOwner): Promise<ContainerListener> {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`socket name ${JSON.stringify(name)} is not a plain file name`);
    const init = await this.initProcessOf(containerId);
    if (!init) throw new SocketUnavailable("the container is not running");
    if (init.ociRuntime !== "runc") throw new SocketUnavailable(`the ${init.ociRuntime} runtime keeps its filesystem out of the host's reach`);
    const root = `${this.procRoot}/${init.pid}/root`;
    await this.stillTheContainer(init.pid, containerId);
    await this.safeChain(root);
    const hostPath = `${root}${AGENT_SOCKET_DIR}/${name}`;
    const server = await bindUnix(hostPath);
    try {
      await this.stillTheContainer(init.pid, containerId);
      // Mode first: until the chown only root (the daemon) could connect anyway.
      await chmod(hostPath, 0o600);
      await chown(hostPath, owner.uid, owner.gid);
    } catch (err) {
      server.close();
      await unlink(hostPath).catch(() => undefined);
      throw err;
    }
    return { path: `${AGENT_SOCKET_DIR}/${name}`, onConnection: (h) => void server.on("connection", h), close: () => closeAndRemove(server, hostPath) };
  }

  private async stillTheContainer(pid: number, containerId: string): Promise<void> {
    if (!(await pidIsContainers(this.procRoot, pid, containerId))) throw new SocketUnavailable("the container's init process is gone");
  }

  /** Make and check each directory from the container's root down to AGENT_SOCKET_DIR. */
  private async safeChain(root: string): Promise<void> {
    for (const dir of AGENT_SOCKET_DIR_CHAIN) {
      const path = `${root}${dir}`;
      await mkdir(path, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw new SocketUnavailable(`cannot make ${dir}: ${err.code ?? err.message}`);
      });
      const st = await lstat(path);
      const why = unsafeAgentDir(dir, { isDirectory: st.isDirectory(), isSymlink: st.isSymbolicLink(), uid: st.uid, mode: st.mode });
      if (why) throw new SocketUnavailable(why);
    }
  }
}

function bindUnix(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: false });
    server.once("error", (err: NodeJS.ErrnoException) => reject(new SocketUnavailable(`cannot listen on the socket: ${err.code ?? err.message}`)));
    server.listen(path, () => {
      server.removeAllListeners("error");
      server.on("error", () => undefined);
      resolve(server);
    });
  });
}

/** The file goes too: a dead socket left behind would only confuse a later look at the directory. */
function closeAndRemove(server: Server, hostPath: string): void {
  server.close();
  void lstat(hostPath)
    .then((st) => (st.isSocket() ? unlink(hostPath) : undefined))
    .catch(() => undefined);
}
