import type { Socket } from "node:net";
import type { Session } from "./session/session.js";

/**
 * The sessions whose connections are open, so the daemon can end them on purpose with one line
 * for the user: `podspawn stop` (the admin's), and the daemon's own stop (a restart).
 */
export class LiveSessions {
  private readonly live = new Map<Session, Socket>();

  track(session: Session, socket: Socket): Session {
    this.live.set(session, socket);
    socket.once("close", () => this.live.delete(session));
    return session;
  }

  get size(): number {
    return this.live.size;
  }

  /** End the sessions of `user` (of one project, or all) with `message`; returns how many. */
  endFor(user: string, project: string | null, message: string): number {
    return this.endWhere((s) => s.user === user && (project === null || s.project === project), message);
  }

  /** End every session with `message`; resolves once their connections have closed, or after `waitMs`. */
  async endAll(message: string, waitMs: number): Promise<number> {
    const sockets = [...this.live.values()];
    const n = this.endWhere(() => true, message);
    const closed = sockets.map((s) => (s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once("close", () => resolve()))));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    return n;
  }

  private endWhere(match: (s: Session) => boolean, message: string): number {
    let n = 0;
    for (const session of [...this.live.keys()]) {
      if (session.phase === "ended" || !match(session)) continue;
      session.end({ kind: "error", message });
      n++;
    }
    return n;
  }
}
