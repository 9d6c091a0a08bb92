import type { Readable } from "node:stream";
import { UserFacingError } from "../../core/errors.js";
import type { SetupStep } from "../../core/podfile/setup-steps.js";
import { setupFailureMessage, stepStartLine, type StepFailure } from "../../core/podfile/setup-messages.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import { TailLines } from "../../support/tail-lines.js";

/**
 * Where a setup step's output goes: the user's stderr (never stdout, so scp, sftp and rsync stay
 * byte-exact), through the session's link with its backpressure. @see Session.setupOutput
 */
export interface SetupOutput {
  /** One of our lines (the step that starts). */
  line(text: string): void;
  /** Relay a step's output; resolves once the stream has ended. */
  relay(stream: Readable): Promise<void>;
}

/** Nobody is watching (no session): the output is read and dropped, so the step never stalls. */
export const DISCARD_OUTPUT: SetupOutput = {
  line: () => undefined,
  relay: (stream) =>
    new Promise((resolve) => {
      stream.on("end", resolve).on("close", resolve).on("error", () => resolve());
      stream.resume();
    }),
};

export interface RunStepsOptions {
  readonly runtime: ContainerRuntime;
  readonly containerId: string;
  /** For the lines: the environment's name. */
  readonly environment: string;
  readonly output: SetupOutput;
  /** Whether the container stays after a failure (said in the message). */
  readonly keptOnFailure: boolean;
}

/** Runs the steps in order as the user; the first that fails or times out ends it with a `setup-failed` error. */
export async function runSteps(steps: readonly SetupStep[], opts: RunStepsOptions): Promise<void> {
  for (const step of steps) {
    opts.output.line(stepStartLine(opts.environment, step.label));
    const tail = new TailLines();
    const failure = await runOne(step, opts, tail);
    if (failure) throw new UserFacingError("setup-failed", setupFailureMessage(opts.environment, step.label, failure, tail.value, opts.keptOnFailure), `${step.label} in ${opts.containerId}: ${failure.kind === "exit" ? `exit ${failure.code}` : "timeout"}; last lines: ${tail.value.join(" | ")}`);
  }
}

/** After a step's timeout kills it, how long its output may take to end (a background job may hold it open). */
export const KILL_GRACE_MS = 5000;

async function runOne(step: SetupStep, opts: RunStepsOptions, tail: TailLines): Promise<StepFailure | null> {
  const exec = await opts.runtime.exec(opts.containerId, step.exec);
  // A hook reads no input: EOF at once, so `read` or `cat` cannot wait for ever.
  exec.stdin.on("error", () => undefined);
  exec.stdin.end();
  for (const s of [exec.stdout, exec.stderr]) s.on("data", (c: Buffer) => tail.push(c));
  const done = Promise.all([exec.exited, opts.output.relay(exec.stdout), opts.output.relay(exec.stderr)]).then(([code]) => code);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), step.timeoutMs)));
  try {
    const first = await Promise.race([done, timeout]);
    if (first !== "timeout") return first === 0 ? null : { kind: "exit", code: first };
    void exec.signal("SIGKILL");
    const gone = await Promise.race([done.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), KILL_GRACE_MS)))]);
    // Whatever still holds the streams open must not hold the login: stop reading them.
    if (!gone) for (const s of [exec.stdout, exec.stderr]) s.destroy();
    return { kind: "timeout", timeoutMs: step.timeoutMs };
  } finally {
    clearTimeout(timer);
  }
}
