import { chmod, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { formatControlLine, MAX_CONTROL_LINE, parseControlRequest, type ControlResponse } from "../../core/protocol/control-protocol.js";
import { describeError } from "../../core/errors.js";
import type { Environments } from "../environments/environments.js";

/**
 * Root-only admin socket (0600): `reload` after add-user/sync, `status`, `metrics`, `evict`
 * before remove-user. One JSON request line in, one JSON response line out.
 */
export interface ControlHandlers {
  readonly reload: () => Promise<void>;
  readonly environments: Environments;
  readonly containerName: (user: string, project: string) => string;
  /** The Prometheus text exposition of the daemon's metrics. */
  readonly metrics: () => string;
}

/** Answer one request line; never throws (errors become `{ok:false}` answers). */
export async function handleControl(line: string, h: ControlHandlers): Promise<ControlResponse> {
  let req;
  try {
    req = parseControlRequest(line);
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
  switch (req.op) {
    case "reload":
      await h.reload();
      return { ok: true };
    case "status": {
      const envs = h.environments.list();
      return {
        ok: true,
        sessions: envs.filter((e) => e.sessions > 0).map((e) => ({ user: e.user, project: e.project, container: e.containerId.slice(0, 12), since: new Date(e.createdAt).toISOString() })),
        containers: envs.map((e) => ({ name: h.containerName(e.user, e.project), id: e.containerId.slice(0, 12), user: e.user, project: e.project, state: e.sessions > 0 ? "in-use" : "idle", sessions: e.sessions })),
      };
    }
    case "metrics":
      return { ok: true, text: h.metrics() };
    case "evict":
      return { ok: true, removed: await h.environments.evict(req.user) };
  }
}

export async function listenControl(path: string, h: ControlHandlers): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((socket) => {
    let buf = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_CONTROL_LINE) socket.destroy();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = "";
      handleControl(line, h)
        .catch((err: unknown): ControlResponse => ({ ok: false, error: describeError(err) }))
        .then((res) => socket.end(formatControlLine(res)), () => socket.destroy());
    });
    socket.on("error", () => socket.destroy());
  });
  const oldUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(oldUmask);
  }
  await chmod(path, 0o600);
  return server;
}
