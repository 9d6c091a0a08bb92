import type { Writable } from "node:stream";
import { FrameType } from "../../core/protocol/frames.js";
import type { ExecPlan } from "../../core/container/exec-plan.js";
import type { ForwardedSignal } from "../../core/protocol/session-request.js";
import type { ContainerRuntime, ExecSession } from "../../core/ports/container-runtime.js";
import { exitStatusOf } from "../../core/container/exit-explanation.js";
import type { Channel, ChannelEnd, ChannelFacts, ChannelOutput } from "./channel.js";
import type { ExitExplainer } from "./exit-notice.js";

/** How long a process gets after SIGHUP before SIGKILL when its session ended without it. */
export const HANGUP_KILL_MS = 2000;

/** A process in the user's container: the shell, their command, or sftp-server. */
export async function openExecChannel(runtime: ContainerRuntime, containerId: string, plan: ExecPlan, command: string | null, explainer?: ExitExplainer): Promise<Channel> {
  const exec = await runtime.exec(containerId, plan);
  // EPIPE once the process has exited: not our error.
  exec.stdin.on("error", () => undefined);
  return new ExecChannel(exec, execFacts(plan, command), explainer);
}

/** What the audit records about a process session, whichever path runs it. */
export function execFacts(plan: ExecPlan, command: string | null): ChannelFacts {
  return { kind: plan.kind, tty: plan.tty, ...(plan.kind === "command" && command !== null ? { command } : {}) };
}

class ExecChannel implements Channel {
  readonly input: Writable;
  readonly outputs: readonly ChannelOutput[];
  readonly finished: Promise<ChannelEnd>;
  private exited = false;

  constructor(
    private readonly exec: ExecSession,
    readonly facts: ChannelFacts,
    explainer?: ExitExplainer,
  ) {
    this.input = exec.stdin;
    this.outputs = [
      { frame: FrameType.Stdout, stream: exec.stdout },
      { frame: FrameType.Stderr, stream: exec.stderr },
    ];
    // An end the status alone does not explain (OOM kill, the engine gone) gets one line.
    const ended = async (code: number | null, err?: unknown): Promise<ChannelEnd> => {
      this.exited = true;
      const notice = (await explainer?.explain(code)) ?? null;
      if (code === null && notice === null) throw err;
      return notice === null ? { code: exitStatusOf(code) } : { code: exitStatusOf(code), notice };
    };
    this.finished = exec.exited.then(
      (code) => ended(code),
      (err: unknown) => ended(null, err),
    );
  }

  resize(cols: number, rows: number): void {
    void this.exec.resize(cols, rows);
  }

  signal(signal: ForwardedSignal): void {
    void this.exec.signal(signal);
  }

  /** The process must not outlive its session: SIGHUP now, SIGKILL if it is still there later. */
  hangUp(): void {
    void this.exec.signal("SIGHUP");
    setTimeout(() => {
      if (!this.exited) void this.exec.signal("SIGKILL");
    }, HANGUP_KILL_MS).unref();
  }
}
