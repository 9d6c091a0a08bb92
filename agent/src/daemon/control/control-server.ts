import { chmod, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import {
  formatControlLine,
  type AddressPoolReport,
  type ListedEnvironment,
  MAX_CONTROL_LINE,
  parseControlRequest,
  type ControlOp,
  type ControlRequest,
  type ControlResponse,
  type RequestOf,
  type SuccessOf,
} from "../../core/protocol/control-protocol.js";
import { describeError } from "../../core/errors.js";
import type { DrainGate } from "../environments/drain-gate.js";
import type { Environments } from "../environments/environments.js";

/**
 * Root-only admin socket (0600): `reload` after add-user/sync, `status`, `metrics`, `evict`
 * before remove-user, `list`, `stop` and `capacity` for the operator's commands. One JSON request
 * line in, one JSON response line out.
 */
export interface ControlHandlers {
  readonly reload: () => Promise<void>;
  readonly environments: Environments;
  readonly containerName: (user: string, project: string) => string;
  /** The Prometheus text exposition of the daemon's metrics. */
  readonly metrics: () => string;
  /** `podspawn list` (list-environments.ts). */
  readonly listEnvironments: () => Promise<ListedEnvironment[]>;
  /** `podspawn stop` (stop-environments.ts). */
  readonly stopEnvironments: (request: RequestOf<"stop">) => Promise<SuccessOf<"stop">>;
  /** The user networks' address pool, or null when the daemon hands out no subnets itself. */
  readonly addressPool: () => AddressPoolReport | null;
  /** Whether the node takes new environments (`podspawn drain` / `undrain`). */
  readonly drainGate: DrainGate;
}

/** What answers each op; keyed by the protocol's op names, so a new op needs a handler here. */
type OpHandlers = { readonly [K in ControlOp]: (request: RequestOf<K>, h: ControlHandlers) => Promise<SuccessOf<K>> };

const HANDLERS: OpHandlers = {
  reload: async (_req, h) => {
    await h.reload();
    return { ok: true };
  },
  status: async (_req, h) => {
    const envs = h.environments.list();
    return {
      ok: true,
      sessions: envs.filter((e) => e.sessions > 0).map((e) => ({ user: e.user, project: e.project, container: e.containerId.slice(0, 12), since: new Date(e.createdAt).toISOString() })),
      containers: envs.map((e) => ({ name: h.containerName(e.user, e.project), id: e.containerId.slice(0, 12), user: e.user, project: e.project, state: e.sessions > 0 ? "in-use" : "idle", sessions: e.sessions })),
    };
  },
  metrics: async (_req, h) => ({ ok: true, text: h.metrics() }),
  evict: async (req, h) => ({ ok: true, removed: await h.environments.evict(req.user) }),
  list: async (_req, h) => ({ ok: true, environments: await h.listEnvironments() }),
  stop: (req, h) => h.stopEnvironments(req),
  capacity: async (_req, h) => ({ ok: true, addressPool: h.addressPool() }),
  drain: async (req, h) => {
    const before = await h.drainGate.set(req.drain, req.reason);
    const sessions = h.environments.list().reduce((n, e) => n + e.sessions, 0);
    return { ok: true, ...h.drainGate.current(), wasDrained: before.drained, sessions };
  },
};

function dispatch<K extends ControlOp>(request: RequestOf<K>, h: ControlHandlers): Promise<SuccessOf<K>> {
  // The table is total over ControlOp; TypeScript cannot correlate HANDLERS[K] with RequestOf<K>.
  const handler = HANDLERS[request.op] as unknown as (request: RequestOf<K>, h: ControlHandlers) => Promise<SuccessOf<K>>;
  return handler(request, h);
}

/** Answer one request line; never throws (errors become `{ok:false}` answers). */
export async function handleControl(line: string, h: ControlHandlers): Promise<ControlResponse> {
  let request: ControlRequest;
  try {
    request = parseControlRequest(line);
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
  try {
    return await dispatch(request, h);
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}

/** A client that connects and sends nothing must not hold a connection forever. */
export const CONTROL_REQUEST_TIMEOUT_MS = 5000;

function serveOne(socket: Socket, h: ControlHandlers, requestTimeoutMs: number): void {
  let buf = "";
  let answered = false;
  socket.setEncoding("utf8");
  socket.setTimeout(requestTimeoutMs, () => {
    if (!answered) socket.destroy();
  });
  socket.on("data", (chunk: string) => {
    if (answered) return;
    buf += chunk;
    const nl = buf.indexOf("\n");
    if (nl < 0) {
      if (buf.length > MAX_CONTROL_LINE) socket.destroy();
      return;
    }
    answered = true;
    socket.setTimeout(0);
    void handleControl(buf.slice(0, nl), h).then((res) => socket.end(formatControlLine(res)));
  });
  socket.on("error", () => socket.destroy());
}

export async function listenControl(path: string, h: ControlHandlers, requestTimeoutMs = CONTROL_REQUEST_TIMEOUT_MS): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((socket) => serveOne(socket, h, requestTimeoutMs));
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
