import { nodeFull } from "../../core/container/admission.js";
import { networkSpec, type NetworkSpec } from "../../core/container/container-spec.js";
import { formatCidr, type Cidr } from "../../core/net/cidr.js";
import { UserFacingError } from "../../core/errors.js";
import { SubnetTaken, type ContainerRuntime } from "../../core/ports/container-runtime.js";
import type { KeyedLock } from "../../support/keyed-lock.js";
import { Semaphore } from "../../support/semaphore.js";
import type { Logger } from "../log.js";
import type { SubnetTable } from "./subnet-table.js";

/** A block taken behind our back is looked up again this often before the login fails. */
const CREATE_ATTEMPTS = 3;
/**
 * Network creates and removes the engine works on at once. Engine 20.10 does them one after
 * another under its own lock, each rewriting iptables (slower as networks add up): 200 sent at
 * once queue inside the engine past any sane deadline (measured: 95 of 200 simultaneous first
 * logins timed out at 30 s). Queued here instead, each call's deadline measures the engine.
 */
const NETWORK_CALLS_AT_ONCE = 2;

export interface NetworkLingerOptions {
  readonly instance: string;
  readonly runtime: ContainerRuntime;
  /** The per-user lock Environments holds while it creates and removes that user's containers. */
  readonly lock: KeyedLock;
  /** How long a network outlives its user's last container (`network_linger`), read when it goes. */
  readonly lingerMs: () => number;
  /** Whether the user still has an environment: then their network stays. */
  readonly inUse: (user: string) => boolean;
  /** Where new networks get their subnets. */
  readonly subnets: SubnetTable;
  /** Environments on the node now, for the "node is full" line. */
  readonly environments: () => number;
  /**
   * The pool is exhausted and nothing lingers: let one idle pooled container (with the network
   * made for it) go, so its block serves a user. False when the pool holds none.
   * @default - nothing to give up
   */
  readonly freeBlock?: () => Promise<boolean>;
  readonly log: Logger;
}

/**
 * One bridge network per user, created with their first container and removed `network_linger`
 * after their last one: a user who comes back soon skips the network create (and engine 20.10's
 * non-atomic create). Its subnet comes from the daemon's pool (SubnetTable), not the engine's
 * defaults; when the pool is exhausted, the network that has lingered longest gives its block up
 * before anyone is refused.
 */
export class NetworkLinger {
  /** Lingering networks by user, oldest first (a Map keeps insertion order). */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly engineCalls = new Semaphore(NETWORK_CALLS_AT_ONCE);

  constructor(private readonly opts: NetworkLingerOptions) {}

  /** The name of the user's own network (where their containers have their addresses). */
  nameOf(user: string): string {
    return networkSpec(this.opts.instance, user).name;
  }

  /** Read which blocks the engine's networks hold (at start, and when a block turns out taken). */
  async learn(): Promise<void> {
    this.opts.subnets.learn(await this.opts.runtime.engineNetworks());
  }

  /** Before creating a container: keep a lingering network, or create it. Call under the user's lock. */
  async ensure(user: string): Promise<void> {
    this.cancel(user);
    const name = this.nameOf(user);
    if (!this.opts.subnets.known) await this.learn();
    for (let attempt = 1; ; attempt++) {
      const subnet = await this.reserve(name);
      try {
        await this.createOnReserved(networkSpec(this.opts.instance, user, subnet), subnet);
        return;
      } catch (err) {
        // Another program or instance took the block since we last looked: look again.
        if (!(err instanceof SubnetTaken) || attempt >= CREATE_ATTEMPTS) throw err;
        await this.learn();
      }
    }
  }

  /**
   * A network for one container only (the pool's): its block reserved like a user network's, but
   * nothing lingering is reclaimed for it and no second try: a pool fill that finds no block
   * waits for the next one. `make(subnet)` gives its spec.
   */
  async createOwn(name: string, make: (subnet: Cidr) => NetworkSpec): Promise<void> {
    if (!this.opts.subnets.known) await this.learn();
    const subnet = this.opts.subnets.reserve(name);
    if (!subnet) throw new Error(`no free block in the address pool for ${name}`);
    await this.createOnReserved(make(subnet), subnet);
  }

  /**
   * Remove a network by name (a pool container's, after that container; or a user's). True when
   * it went; a failure is logged, never thrown.
   */
  async removeNetwork(name: string, reason: string): Promise<boolean> {
    try {
      await this.engineCalls.run(() => this.opts.runtime.removeNetwork(name));
      this.opts.subnets.release(name);
      this.opts.log({ kind: "network-removed", network: name, reason });
      return true;
    } catch (err) {
      this.opts.log({ kind: "error", code: "network-remove", message: `removing network ${name} failed`, detail: String(err) });
      return false;
    }
  }

  /** Create `spec` on the block reserved for it: confirmed when made, given back when refused. */
  private async createOnReserved(spec: NetworkSpec, subnet: Cidr): Promise<void> {
    try {
      const created = await this.engineCalls.run(() => this.opts.runtime.ensureNetwork(spec));
      this.opts.subnets.confirm(spec.name);
      if (created) this.opts.log({ kind: "network-created", network: spec.name, subnet: formatCidr(subnet) });
    } catch (err) {
      // An engine that did not answer in time may still make the network: its block stays
      // reserved under the name (the next try finds it, or learns it is not there).
      if (!(err instanceof UserFacingError && err.code === "engine-timeout")) this.opts.subnets.abandon(spec.name);
      throw err;
    }
  }

  /** The user's last container has gone: remove the network after the linger, unless they are back by then. */
  release(user: string): void {
    this.cancel(user);
    // Their containers may all have been claimed from the pool, each on its own network.
    if (!this.opts.subnets.has(this.nameOf(user))) return;
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
    await this.engineCalls.run(() => this.opts.runtime.removeNetwork(this.nameOf(user)));
    this.opts.subnets.release(this.nameOf(user));
  }

  private async reserve(name: string): Promise<Cidr> {
    for (;;) {
      const subnet = this.opts.subnets.reserve(name);
      if (subnet) return subnet;
      if (!(await this.reclaimLingering()) && !(await this.opts.freeBlock?.())) throw nodeFull(this.opts.environments(), "address-pool");
    }
  }

  /**
   * The pool is exhausted: remove the network that has lingered longest. Its user's lock is taken
   * while ours is held; no deadlock, because a user waiting here is no longer lingering, so
   * nobody waits for them in turn (the lingering set only shrinks under waiters).
   */
  private async reclaimLingering(): Promise<boolean> {
    // A network outside the pool (made before the pool changed) would free nothing in it.
    for (const victim of [...this.timers.keys()].filter((u) => this.opts.subnets.holdsPoolBlock(this.nameOf(u)))) {
      const freed = await this.opts.lock.run(victim, async () => {
        if (!this.timers.has(victim) || this.opts.inUse(victim)) return false;
        this.cancel(victim);
        return this.remove(victim, "reclaimed");
      });
      if (freed) return true;
    }
    return false;
  }

  private cancel(user: string): void {
    const t = this.timers.get(user);
    if (t) clearTimeout(t);
    this.timers.delete(user);
  }

  private async removeIfUnused(user: string): Promise<void> {
    this.timers.delete(user);
    await this.opts.lock.run(user, async () => {
      if (!this.opts.inUse(user)) await this.remove(user, "lingered");
    });
  }

  private remove(user: string, reason: string): Promise<boolean> {
    return this.removeNetwork(this.nameOf(user), reason);
  }
}
