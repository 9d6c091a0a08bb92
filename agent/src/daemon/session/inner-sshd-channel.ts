import { UserFacingError } from "../../core/errors.js";
import type { ContainerAccount } from "../../core/container/exec-plan.js";
import { HOST_CERT_RENEW_BEFORE_MS, HOST_CERT_VALIDITY_MS, hostCertIdentity } from "../../core/ide/host-cert.js";
import { planInnerFiles } from "../../core/ide/inner-files.js";
import { NO_SSHD_MESSAGE, planInnerSshdExec, SSHD_PATHS } from "../../core/ide/inner-sshd.js";
import type { SessionRequest } from "../../core/protocol/session-request.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import type { PublicKey } from "../../core/users/keys.js";
import type { HostCa } from "../../adapters/ssh/host-ca.js";
import { KeyedLock } from "../../support/keyed-lock.js";
import type { Channel } from "./channel.js";
import { openExecChannel } from "./exec-channel.js";
import type { ExitExplainer } from "./exit-notice.js";

export interface InnerSshdDeps {
  readonly instance: string;
  /** The node's host CA (opened, or generated, once). */
  readonly hostCa: () => Promise<HostCa>;
  /** The user's registered keys, read at each session start (a removed key stops working at once). */
  readonly keysOf: (user: string) => Promise<readonly PublicKey[]>;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface InnerSshdTarget {
  readonly runtime: ContainerRuntime;
  readonly containerId: string;
  readonly user: string;
  readonly account: ContainerAccount;
  readonly request: SessionRequest;
  readonly explainer?: ExitExplainer;
}

/**
 * The IDE mode's far end: `sshd -i` in the user's container, on an ordinary (non-TTY) exec
 * channel, so the inner SSH stream gets the exec channel's backpressure and byte-exactness.
 * Before it starts, the daemon writes the config and the user's keys (each session: a key removed
 * from the registry is gone from the next inner login), and a host key with its certificate when
 * the container has none that lasts long enough.
 */
export class InnerSshd {
  private readonly lock = new KeyedLock();
  /** Certificate expiry per container id; forgotten at a daemon restart, which just issues anew. */
  private readonly issued = new Map<string, number>();

  constructor(private readonly deps: InnerSshdDeps) {}

  async open(t: InnerSshdTarget): Promise<Channel> {
    const sshd = await this.findSshd(t.runtime, t.containerId);
    await this.lock.run(t.containerId, () => this.writeFiles(t));
    return openExecChannel(t.runtime, t.containerId, planInnerSshdExec(t.request, t.account, sshd), null, t.explainer);
  }

  private async findSshd(runtime: ContainerRuntime, containerId: string): Promise<string> {
    for (const path of SSHD_PATHS) if (await runtime.pathExists(containerId, path)) return path;
    throw new UserFacingError("no-sshd", NO_SSHD_MESSAGE, `container ${containerId} has none of ${SSHD_PATHS.join(", ")}`);
  }

  private async writeFiles(t: InnerSshdTarget): Promise<void> {
    const now = (this.deps.now ?? Date.now)();
    const keys = await this.deps.keysOf(t.user);
    const expires = this.issued.get(t.containerId);
    const renew = expires === undefined || expires - now < HOST_CERT_RENEW_BEFORE_MS;
    const identity = hostCertIdentity({ instance: this.deps.instance, user: t.user, project: t.request.project, containerId: t.containerId });
    const hostKey = renew ? await (await this.deps.hostCa()).issue(identity) : null;
    await t.runtime.writeFiles(t.containerId, planInnerFiles(t.account, keys, hostKey));
    if (renew) this.remember(t.containerId, now + HOST_CERT_VALIDITY_MS, now);
  }

  /** Bounded by the live containers: entries past their expiry are dropped on each issue. */
  private remember(containerId: string, expires: number, now: number): void {
    for (const [id, at] of this.issued) if (at <= now) this.issued.delete(id);
    this.issued.set(containerId, expires);
  }
}
