import type { Control } from "../../../agent/src/admin/deps.js";
import { formatControlLine, parseControlRequest, parseControlResponse, type ControlRequest, type ControlResponse } from "../../../agent/src/core/protocol/control-protocol.js";

export interface FakeDaemon {
  readonly control: Control;
  /** Requests in the order they arrived. */
  readonly requests: ControlRequest[];
  /** The live sessions `status` reports, by user. */
  sessions: string[];
  /** Answer everything with this error (a daemon that refuses). */
  refuse: string | null;
  /** No daemon at all: every request gets null, as when the socket is missing. */
  down: boolean;
}

/**
 * A daemon on the control socket, minus the socket: every request and answer goes through the real
 * wire format and checks (formatControlLine, parseControlRequest, parseControlResponse), so the
 * use cases cannot rely on a shape the real daemon does not send.
 */
export function fakeDaemon(log: string[] = []): FakeDaemon {
  const daemon: FakeDaemon = {
    requests: [],
    sessions: [],
    refuse: null,
    down: false,
    control: async (request) => {
      if (daemon.down) return null;
      const req = parseControlRequest(formatControlLine(request).trim());
      daemon.requests.push(req);
      log.push(`control ${req.op}`);
      const answer = daemon.refuse !== null ? { ok: false as const, error: daemon.refuse } : answerFor(req, daemon.sessions);
      return parseControlResponse(request, formatControlLine(answer).trim());
    },
  };
  return daemon;
}

function answerFor(req: ControlRequest, sessions: readonly string[]): ControlResponse {
  switch (req.op) {
    case "reload":
      return { ok: true };
    case "status":
      return { ok: true, containers: [], sessions: sessions.map((user) => ({ user, project: "default", container: `c-${user}`, since: "2025-01-01T00:00:00.000Z" })) };
    case "metrics":
      return { ok: true, text: "" };
    case "evict":
      return { ok: true, removed: sessions.filter((u) => u === req.user).length };
    case "list":
      return { ok: true, environments: [] };
    case "stop":
      return { ok: true, environments: 0, sessions: sessions.filter((u) => u === req.user).length, volumes: 0 };
    case "capacity":
      return { ok: true, addressPool: null };
    case "drain":
      return { ok: true, drained: req.drain, reason: req.drain ? req.reason : null, since: req.drain ? "2025-01-01T00:00:00.000Z" : null, wasDrained: false, sessions: sessions.length };
  }
}
