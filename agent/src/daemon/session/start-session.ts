import { InputError, UserFacingError } from "../../core/errors.js";
import { planExec, wantsAgent } from "../../core/container/exec-plan.js";
import { parseSessionRequest, type SessionRequest } from "../../core/protocol/session-request.js";
import { parseTunnelRequest } from "../../core/protocol/tunnel-request.js";
import type { NodeConfig } from "../../core/config/node-config.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import type { ContainerSockets } from "../../core/ports/container-sockets.js";
import type { Logger } from "../log.js";
import { forwardAgent } from "./agent-forwarding.js";
import type { Dial } from "../../adapters/net/tcp-relay.js";
import type { Environment, Environments } from "../environments/environments.js";
import { lifetimeLeftMs, lifetimeWarning } from "../../core/container/lifetime-notice.js";
import type { EnvironmentPlanner } from "../projects/planner.js";
import type { Channel } from "./channel.js";
import { execFacts, openExecChannel } from "./exec-channel.js";
import { NO_EXIT_WATCH, type WatchExit } from "./exit-notice.js";
import type { SessionHandle } from "./session-handle.js";
import { openTunnelChannel, TunnelRefused } from "./tunnel-channel.js";
import { isInnerSshdCommand } from "../../core/ide/inner-sshd.js";
import type { InnerSshd } from "./inner-sshd-channel.js";
import { startSteps, withSessionSettings, type EnvironmentPlan } from "../../core/podfile/index.js";
import { runSteps } from "../environments/setup-runner.js";
import type { DirectIo } from "../direct-io/direct-io.js";
import { openDirectExecChannel } from "./direct-exec-channel.js";

export interface StartDeps {
  readonly runtime: ContainerRuntime;
  readonly environments: Environments;
  readonly planner: EnvironmentPlanner;
  readonly config: () => NodeConfig;
  readonly egress: () => Promise<void>;
  /** Throws the refusal while the node's runc has an open escape (daemon/runc-gate.ts). @default no check */
  readonly runcGate?: (what: "session" | "project") => void;
  readonly dial?: Dial;
  readonly now?: () => number;
  readonly watchExit?: WatchExit;
  /** The IDE mode (`podspawn-sshd`). @default absent: such a session is refused in one line */
  readonly innerSshd?: InnerSshd;
  readonly sockets?: ContainerSockets;
  readonly log?: Logger;
  /** The direct stdio path for sessions without a terminal on runc. @default absent: the engine path */
  readonly directIo?: DirectIo;
}

/**
 * HELLO -> a validated request -> the user's environment, held -> a channel, attached. Each step
 * hands what it got to the session, which gives it back if the client has gone meanwhile.
 */
export async function startSession(session: SessionHandle, hello: Buffer, deps: StartDeps): Promise<void> {
  const req = parseHello(hello);
  session.begin(req.project, req.keyFingerprint, req.stdio !== null);
  const { env, plan } = await acquireEnvironment(session, req.project, deps);
  if (!session.hold(() => deps.environments.release(env))) return;
  warnIfExpiring(session, env, deps);
  const port = parseTunnelRequest(req.command);
  // A tunnel is not a login: no hooks for `podspawn forward`.
  if (port === null) await runOnStart(session, env, plan, deps);
  const channel = port === null ? await openExec(session, req, env, plan, deps) : await openTunnel(session, env, port, deps);
  if (channel) session.attach(channel);
}

/** The Podfile's on_start, before every session, as the user, output on stderr; a failure ends this login only (the container stays). */
async function runOnStart(session: SessionHandle, env: Environment, plan: EnvironmentPlan, deps: StartDeps): Promise<void> {
  if (plan.setup.onStart.length === 0) return;
  if (!env.account) throw new Error("environment has no account");
  await runSteps(startSteps(plan, env.account), { runtime: deps.runtime, containerId: env.containerId, environment: plan.name, output: session.setupOutput(), keptOnFailure: true });
}

/** A login shortly before max_lifetime removes the container is told so, on stderr. */
function warnIfExpiring(session: SessionHandle, env: Environment, deps: StartDeps): void {
  const warning = lifetimeWarning(lifetimeLeftMs(env.createdAt, deps.config().session.maxLifetimeMs, (deps.now ?? Date.now)()));
  if (warning) session.notice(warning);
}

function parseHello(payload: Buffer): SessionRequest {
  let hello: unknown;
  try {
    hello = JSON.parse(payload.toString("utf8"));
  } catch {
    throw new InputError("hello", "is not JSON");
  }
  return parseSessionRequest(hello);
}

async function acquireEnvironment(session: SessionHandle, project: string, deps: StartDeps): Promise<{ env: Environment; plan: EnvironmentPlan }> {
  // No session, warm or cold, on a node that cannot keep containers off the metadata service.
  await deps.egress();
  deps.runcGate?.("session");
  const cold = !deps.environments.has(session.user, project);
  try {
    // Refuses a project the node does not have; builds the image of a new Podfile, its steps on
    // the user's stderr (PROGRESS frames: shown without a terminal too, stdout stays clean).
    const plan = await deps.planner.planFor(session.user, project, { onProgress: (line) => session.progress(line) });
    if (cold) {
      // A cold start: make sure the engine answers before promising anything.
      await deps.runtime.ping();
      session.info(`podspawn: starting your ${project} environment...\r\n`);
    }
    // A new container's services and setup report on the same stderr path as the build.
    return { env: await deps.environments.acquire(session.user, project, { plan, output: session.setupOutput() }), plan };
  } catch (err) {
    // A warm login pays no ping; when it fails for a reason of ours, the ping says whether the
    // engine is down (its one clear line) instead of a raw connection error.
    if (!(err instanceof InputError || err instanceof UserFacingError)) await deps.runtime.ping();
    throw err;
  }
}

async function openExec(session: SessionHandle, req: SessionRequest, env: Environment, plan: EnvironmentPlan, deps: StartDeps): Promise<Channel | null> {
  if (!env.account) throw new Error("environment has no account");
  const explainer = await (deps.watchExit ?? NO_EXIT_WATCH)({ containerId: env.containerId, user: session.user, project: session.project });
  if (isInnerSshdCommand(req.command)) {
    if (!deps.innerSshd) throw new UserFacingError("no-ide-mode", "the IDE mode (podspawn-sshd) is not available on this node");
    return deps.innerSshd.open({ runtime: deps.runtime, containerId: env.containerId, user: session.user, account: env.account, request: req, explainer });
  }
  // The IDE mode's inner sshd forwards its own agent (ssh -A to it); ours is for plain sessions.
  const sftp = deps.config().sftpSubsystems;
  const agentSocket = wantsAgent(req, sftp) ? await forwardAgent(session, env.containerId, env.account, deps) : null;
  const exec = withSessionSettings(planExec(req, env.account, sftp, agentSocket), env.account, plan.session);
  const direct = req.stdio === null ? null : (await deps.directIo?.open({ session: session.id, user: session.user, offer: req.stdio, plan: exec, containerId: env.containerId }) ?? null);
  if (direct) return openDirectExecChannel(direct, execFacts(exec, req.command), explainer);
  return openExecChannel(deps.runtime, env.containerId, exec, req.command, explainer);
}

/** A tunnel counts as a session, so the container stays while it is open. */
async function openTunnel(session: SessionHandle, env: Environment, port: number, deps: StartDeps): Promise<Channel | null> {
  const target = { runtime: deps.runtime, containerId: env.containerId, network: env.network, project: session.project, port };
  try {
    return await openTunnelChannel(target, deps.dial);
  } catch (err) {
    if (!(err instanceof TunnelRefused)) throw err;
    session.refuseTunnel(port, err.reason);
    return null;
  }
}
