import { chmod, chown, unlink } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { SocketUnavailable, type ContainerListener, type ContainerSockets, type SocketOwner } from "../../../agent/src/core/ports/container-sockets.js";

/**
 * ContainerSockets for unit tests: the "container" is a temporary directory, and the path it
 * reports is that directory's real path, so a test connects where a container process would.
 */
export class TmpDirSockets implements ContainerSockets {
  readonly calls: { containerId: string; name: string; owner: SocketOwner }[] = [];
  readonly open = new Set<string>();
  /** The daemon-side end of every connection accepted so far. */
  readonly accepted: Socket[] = [];
  /** Set to make listen fail the way an unsafe or gVisor container does. */
  unavailable: string | null = null;

  constructor(private readonly dir: string) {}

  async listen(containerId: string, name: string, owner: SocketOwner): Promise<ContainerListener> {
    this.calls.push({ containerId, name, owner });
    if (this.unavailable !== null) throw new SocketUnavailable(this.unavailable);
    const path = join(this.dir, name);
    const server: Server = createServer((s) => this.accepted.push(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, resolve);
    });
    await chmod(path, 0o600);
    await chown(path, owner.uid, owner.gid);
    this.open.add(path);
    return {
      path,
      onConnection: (h) => void server.on("connection", h),
      close: () => {
        server.close();
        this.open.delete(path);
        void unlink(path).catch(() => undefined);
      },
    };
  }
}
