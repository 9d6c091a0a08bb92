import { networkSpec } from "../../core/container/container-spec.js";
import type { ContainerRuntime } from "../../core/ports/container-runtime.js";
import type { KeyedLock } from "../../support/keyed-lock.js";
import type { Logger } from "../log.js";

export interface NetworkLingerOptions {
  readonly instance: string;
  readonly runtime: ContainerRuntime;
  /** The per-user lock Environments holds while it creates and removes that user's containers. */
  readonly lock: KeyedLock;
  /** How long a network outlives its user's last container (`network_linger`), read when it goes. */
  readonly lingerMs: () => number;
  /** Whether the user still has an environment: then their network stays. */
  readonly inUse: (user: string) => boolean;
  readonly log: Logger;
}

/**
 * One bridge network per user, created with their first container and removed `network_linger`
 * after their last one: a user who comes back soon skips the network create (and engine 20.10's
 * non-atomic create), and the ~30 address pools of an engine are not held by idle users forever.
 */
export class NetworkLinger {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly opts: NetworkLingerOptions) {}

  /** The name of the user's own network (where their containers have their addresses). */
  nameOf(user: string): string {
    return networkSpec(this.opts.instance, user).name;
  }

  /** Before creating a container: keep a lingering network, or create it. Call under the user's lock. */
  async ensure(user: string): Promise<void> {
    this.cancel(user);
    const net = networkSpec(this.opts.instance, user);
    if (await this.opts.runtime.ensureNetwork(net)) this.opts.log({ kind: "network-created", network: net.name });
  }

  /** The user's last container has gone: remove the network after the linger, unless they are back by then. */
  release(user: string): void {
    this.cancel(user);
    const ms = this.opts.lingerMs();
    if (ms <= 0) {
      void this.removeIfUnused(user);
      return;
    }
    const t = setTimeout(() => void this.removeIfUnused(user), ms);
    t.unref();
    this.timers.set(user, t);
  }

  /** Remove it now, whatever is pending (evicting a user). Call under the user's lock. */
  async removeNow(user: string): Promise<void> {
    this.cancel(user);
    await this.opts.runtime.removeNetwork(this.nameOf(user));
  }

  private cancel(user: string): void {
    const t = this.timers.get(user);
    if (t) clearTimeout(t);
    this.timers.delete(user);
  }

  private async removeIfUnused(user: string): Promise<void> {
    this.timers.delete(user);
    await this.opts.lock.run(user, async () => {
      if (this.opts.inUse(user)) return;
      const net = this.nameOf(user);
      try {
        await this.opts.runtime.removeNetwork(net);
        this.opts.log({ kind: "network-removed", network: net });
      } catch (err) {
        this.opts.log({ kind: "error", message: `removing network ${net} failed`, detail: String(err) });
      }
    });
  }
}
