import type { AgentChannel } from "./agent-channel.js";
import type { Channel } from "./channel.js";
import type { ClientLink } from "./client-link.js";
import type { SetupOutput } from "../environments/setup-runner.js";

/**
 * What starting a session needs of it (start-session.ts, agent-forwarding.ts): who it is, its
 * lines to the user, and the steps that hand it what it holds. Session implements it; the starters
 * depend on this, not on Session, so session.ts -> start-session.ts is the only direction.
 */
export interface SessionHandle {
  readonly id: number;
  readonly user: string;
  readonly project: string;
  /** The request is valid: who and what this session is about. */
  begin(project: string, key: string | null, stdioOffered?: boolean): void;
  /** Progress for a terminal only. */
  info(text: string): void;
  /** One of our lines on the user's stderr. */
  notice(line: string): void;
  /** A line for the user's stderr even without a terminal (build progress). */
  progress(line: string): void;
  /** Where a setup step's output goes. */
  setupOutput(): SetupOutput;
  /** The environment is held; false (and released at once) if the session ended meanwhile. */
  hold(release: () => void): boolean;
  /** The client's agent relay; false (and closed at once) if the session ended meanwhile. */
  useAgent(agent: AgentChannel): boolean;
  /** The link's socket, gate and valve, for the agent channel's connections. */
  readonly mux: ClientLink["mux"];
  /** Activity on a side channel: the idle timeout starts over. */
  touch(): void;
  /** The channel is open; false (and hung up) if the session ended meanwhile. */
  attach(channel: Channel): boolean;
  /** A tunnel's port had nobody listening: audited, one line for the user, the session ends. */
  refuseTunnel(port: number, reason: string): void;
}
