import { randomBytes } from "node:crypto";
import { drainPlan, nextFill, pickPooled, recentSpecs, type CapacityFacts, type IdlePooled, type SeenSpec, type WantedSpec } from "../../core/container/pool-plan.js";
import { isPooled, isPooledNetworkName, POOL_LABEL, pooledContainerSpec, pooledNetworkOf, pooledNetworkSpec, pooledOwner, type PoolTemplate } from "../../core/container/pool-spec.js";
import { LABEL } from "../../core/container/container-spec.js";
import type { NodeConfig } from "../../core/config/node-config.js";
import type { ContainerRuntime, ManagedContainer } from "../../core/ports/container-runtime.js";
import { CoalescedRun } from "../../support/coalesced-run.js";
import type { Logger } from "../log.js";
import type { AccountProvisioner } from "./account-provisioner.js";
import type { NetworkLinger } from "./network-linger.js";

export interface PoolOptions {
  readonly instance: string;
  readonly runtime: ContainerRuntime;
  readonly accounts: AccountProvisioner;
  /** Where each pooled container's own network is made and removed. */
  readonly networks: Pick<NetworkLinger, "createOwn" | "removeNetwork">;
  readonly log: Logger;
  readonly config: () => NodeConfig;
  /** Users' environments on the node now, those being made included: they come first. */
  readonly environments: () => number;
  /** The default environment's template under the config in force (always kept warm), or null. */
  readonly defaultTemplate: () => PoolTemplate | null;
  /** Non-null: the node takes no new environments (drained), so it keeps no pool either. */
  readonly refuseNew?: () => Error | null;
  readonly now?: () => number;
}

/** A pooled container as the pool hands it to a claim. */
export interface Pooled extends IdlePooled {
  readonly name: string;
  /** The network made for it alone: its user's claim keeps it there (no network call at the claim). */
  readonly network: string;
}

/** Templates remembered at most; older ones are forgotten first (a bound, not a policy). */
const SEEN_LIMIT = 64;

/**
 * Pre-created, started, pristine containers per spec (pool-spec.ts): a first login claims one
 * instead of creating a container. The pool refills in the background after each claim, one
 * container at a time; pooled containers count toward the node's capacity, give way to users at
 * capacity, and go when their spec or image is no longer the one wanted. The decisions are pure
 * (core/container/pool-plan); this class does the engine calls around them. A claimed container
 * is the caller's from then on and never comes back.
 */
export class Pool {
  private idle: Pooled[] = [];
  private readonly filling = new Map<string, number>();
  private readonly seen = new Map<string, SeenSpec<PoolTemplate>>();
  private readonly runs = new CoalescedRun(() => this.reconcileOnce());
  private readonly now: () => number;

  constructor(private readonly opts: PoolOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Idle containers ready for a claim. */
  idleCount(): number {
    return this.idle.length;
  }

  /** Pooled containers being made now (they hold node capacity as well). */
  fillingCount(): number {
    return [...this.filling.values()].reduce((a, b) => a + b, 0);
  }

  /**
   * Take the oldest idle container of `template` made from `imageId`, or null (a miss). Either way
   * the template counts as in use; the caller starts the refill once its login is served, so the
   * refill does not compete with it for the engine.
   */
  claim(template: PoolTemplate, imageId: string, who: { readonly user: string; readonly project: string }): Pooled | null {
    // One per project (hostname): its newest spec replaces the one it asked for before.
    this.seen.delete(template.hostname);
    this.seen.set(template.hostname, { template, lastUsedMs: this.now() });
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.keys().next().value as string);
    const picked = pickPooled(this.idle, template.hash, imageId);
    if (picked) this.idle = this.idle.filter((c) => c !== picked);
    else this.opts.log({ kind: "pool-miss", user: who.user, project: who.project, spec: template.hash });
    return picked as Pooled | null;
  }

  /** Before a login creates a container the normal way: idle pooled ones give up the slot it needs. */
  makeRoom(keep: string | null): void {
    this.removeIdle(drainPlan(this.idle, this.wantedNow(), this.capacity(), keep), "capacity");
  }

  /** Drain and refill in the background (after a claim, a config reload, a restart). Never throws. */
  refill(): Promise<void> {
    return this.runs.run().catch((err: unknown) => this.opts.log({ kind: "error", code: "pool-fill", message: "pool refill failed", detail: String(err) }));
  }

  /**
   * After a daemon restart: take back the unclaimed pooled containers the engine has. Only a
   * running one without a ready marker is pristine; anything else is removed. Whether its spec is
   * still wanted, the next refill decides.
   */
  async adopt(found: readonly ManagedContainer[]): Promise<number> {
    const mine = found.filter((c) => isPooled(c.labels) && pooledOwner(this.opts.instance, c.name) === "unclaimed");
    for (const c of mine) {
      const hash = c.labels[LABEL.specHash] ?? "";
      const imageId = c.labels[POOL_LABEL.imageId] ?? "";
      const network = pooledNetworkOf(this.opts.instance, c.labels) ?? "";
      const pristine = c.running && hash !== "" && network !== "" && !(await this.opts.accounts.hasMarker(c.id).catch(() => true));
      if (pristine && !this.idle.some((x) => x.id === c.id)) this.idle.push({ id: c.id, name: c.name, hash, imageId, network });
      else if (!pristine) await this.removeOne({ id: c.id, name: c.name, hash, imageId, network }, "not-pristine");
    }
    await this.sweepNetworks(found);
    return this.idle.length;
  }

  /**
   * Networks the pool made whose container is gone (a daemon that died between the two, or
   * between removing them): no container of this instance, claimed or not, names them.
   */
  private async sweepNetworks(found: readonly ManagedContainer[]): Promise<void> {
    const named = new Set(found.map((c) => pooledNetworkOf(this.opts.instance, c.labels)));
    for (const n of await this.opts.runtime.listNetworks(this.opts.instance)) {
      if (n.labels[POOL_LABEL.network] !== "true" || !isPooledNetworkName(this.opts.instance, n.name) || named.has(n.name)) continue;
      await this.opts.networks.removeNetwork(n.name, "orphaned");
    }
  }

  /** The address pool is exhausted: the oldest idle container goes with its network, so a user gets its block. */
  async giveUpOne(): Promise<boolean> {
    const oldest = this.idle[0];
    if (!oldest) return false;
    this.idle = this.idle.slice(1);
    return this.removeOne(oldest, "address-pool");
  }

  private capacity(): CapacityFacts {
    return { maxEnvironments: this.opts.config().limits.maxEnvironments, environments: this.opts.environments(), filling: this.filling };
  }

  /** The templates to keep warm now, each with its size (image ids resolved by `wanted`). */
  private templatesNow(): { readonly template: PoolTemplate; readonly size: number }[] {
    const { pool } = this.opts.config();
    if (this.opts.refuseNew?.()) return [];
    const def = this.opts.defaultTemplate();
    const recent = recentSpecs(def && pool.size > 0 ? [def] : [], [...this.seen.values()], this.now(), pool.specsIdleAfterMs);
    return recent.map((template) => ({ template, size: template.hash === def?.hash ? pool.size : pool.projectSize })).filter((t) => t.size > 0);
  }

  /** What is wanted, with the image ids the idle containers were made from (no engine call). */
  private wantedNow(): WantedSpec[] {
    return this.templatesNow().map(({ template, size }) => ({ hash: template.hash, size, imageId: this.idle.find((c) => c.hash === template.hash)?.imageId ?? null }));
  }

  private async wanted(): Promise<{ readonly specs: WantedSpec[]; readonly templates: Map<string, PoolTemplate> }> {
    const specs: WantedSpec[] = [];
    const templates = new Map<string, PoolTemplate>();
    for (const { template, size } of this.templatesNow()) {
      // A tag that moved (a rebuilt image) is a new image id: the old containers drain.
      const imageId = await this.opts.runtime.imageId(template.image).catch(() => null);
      specs.push({ hash: template.hash, size, imageId });
      templates.set(template.hash, template);
    }
    return { specs, templates };
  }

  private async reconcileOnce(): Promise<void> {
    const { specs, templates } = await this.wanted();
    this.removeIdle(drainPlan(this.idle, specs, this.capacity()), "drained");
    for (;;) {
      const next = nextFill(this.idle, specs, this.capacity());
      const template = next && templates.get(next.hash);
      if (!next?.imageId || !template) return;
      // A failed fill waits for the next trigger: no hot loop against a broken engine.
      if (!(await this.fillOne(template, next.imageId))) return;
    }
  }

  /** Create and start one pristine container, hardened like a user's, on a network of its own. */
  private async fillOne(template: PoolTemplate, imageId: string): Promise<boolean> {
    const tag = randomBytes(4).toString("hex");
    const spec = pooledContainerSpec(this.opts.instance, template, imageId, tag);
    const t0 = this.now();
    this.filling.set(template.hash, (this.filling.get(template.hash) ?? 0) + 1);
    let id: string | null = null;
    let network = false;
    try {
      await this.opts.networks.createOwn(spec.network, (subnet) => pooledNetworkSpec(this.opts.instance, tag, subnet));
      network = true;
      id = await this.opts.runtime.create(spec);
      await this.opts.runtime.start(id);
      await this.opts.accounts.warm(id, imageId);
      this.idle.push({ id, name: spec.name, hash: template.hash, imageId, network: spec.network });
      this.opts.log({ kind: "pool-filled", spec: template.hash, container: spec.name, ms: this.now() - t0 });
      return true;
    } catch (err) {
      this.opts.log({ kind: "error", code: "pool-fill", message: `making pooled container ${spec.name} failed`, detail: String(err) });
      if (id !== null) await this.opts.runtime.remove(id).catch(() => undefined);
      if (network) await this.opts.networks.removeNetwork(spec.network, "pool-fill-failed");
      return false;
    } finally {
      this.filling.set(template.hash, (this.filling.get(template.hash) ?? 1) - 1);
      if (this.filling.get(template.hash) === 0) this.filling.delete(template.hash);
    }
  }

  /** Out of the idle list at once (no claim can take them), off the engine in the background. */
  private removeIdle(gone: readonly IdlePooled[], reason: string): void {
    if (gone.length === 0) return;
    const ids = new Set(gone.map((c) => c.id));
    const leaving = this.idle.filter((c) => ids.has(c.id));
    this.idle = this.idle.filter((c) => !ids.has(c.id));
    for (const c of leaving) void this.removeOne(c, reason);
  }

  /** The container, then the network made for it. True when both went. */
  private async removeOne(c: Pooled, reason: string): Promise<boolean> {
    try {
      await this.opts.runtime.remove(c.id);
      this.opts.log({ kind: "pool-removed", spec: c.hash, container: c.name, reason });
    } catch (err) {
      this.opts.log({ kind: "error", code: "container-remove", message: `removing pooled container ${c.name} failed`, detail: String(err) });
      return false;
    }
    return c.network === "" || this.opts.networks.removeNetwork(c.network, reason);
  }
}
