import { chmod, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import type { Environments } from "./environments.js";

/**
 * Root-only admin socket (0600): `reload` after add-user/sync, `status`, `evict` before
 * remove-user. One JSON request line in, one JSON response line out.
 */
export interface ControlHandlers {
  readonly reload: () => Promise<void>;
  readonly environments: Environments;
}

type Response = Record<string, unknown> & { ok: boolean };

export async function handleControl(line: string, h: ControlHandlers): Promise<Response> {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return { ok: false, error: "request is not JSON" };
  }
  const r = (typeof req === "object" && req !== null ? req : {}) as Record<string, unknown>;
  switch (r["op"]) {
    case "reload":
      await h.reload();
      return { ok: true };
    case "status":
      return {
        ok: true,
        sessions: h.environments.list().filter((e) => e.sessions > 0).map((e) => ({ user: e.user, project: e.project, container: e.containerId.slice(0, 12), sessions: e.sessions, since: new Date(e.createdAt).toISOString() })),
        containers: h.environments.list().map((e) => ({ user: e.user, project: e.project, id: e.containerId.slice(0, 12), sessions: e.sessions })),
      };
    case "evict": {
      const user = r["user"];
      if (typeof user !== "string") return { ok: false, error: "evict needs a user" };
      return { ok: true, removed: await h.environments.evict(user) };
    }
    default:
      return { ok: false, error: `unknown op ${JSON.stringify(r["op"])}`, allowed: ["reload", "status", "evict"] };
  }
}

export async function listenControl(path: string, h: ControlHandlers): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((socket) => {
    let buf = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > 64 * 1024) socket.destroy();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = "";
      handleControl(line, h)
        .catch((err: unknown) => ({ ok: false, error: String(err) }))
        .then((res) => socket.end(JSON.stringify(res) + "\n"), () => socket.destroy());
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
