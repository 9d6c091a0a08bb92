import { admitLogin, LimitRefusal } from "../../core/container/admission.js";
import { decideAttach, mustReadMarker, type AttachDecision, type FoundContainer, type KnownEnvironment } from "../../core/container/attach-decision.js";
import { containerName, containerSpec, LABEL, type ContainerSpec } from "../../core/container/container-spec.js";
import { isPooled, isPooledNetworkName, poolTemplateOf, pooledNetworkOf, pooledOwner } from "../../core/container/pool-spec.js";
import { DEFAULT_PROJECT } from "../../core/container/project.js";
import type { ContainerAccount } from "../../core/container/exec-plan.js";
import { UserFacingError } from "../../core/errors.js";
import type { NodeConfig } from "../../core/config/node-config.js";
import type { ContainerRuntime, ManagedContainer } from "../../core/ports/container-runtime.js";
import { KeyedLock } from "../../support/keyed-lock.js";
import { createSteps, hasCreateSteps, type EnvironmentPlan } from "../../core/podfile/index.js";
import { isSetupMarkerOf, renderSetupMarker, SETUP_MARKER_PATH } from "../../core/container/setup-marker.js";
import { dialTcp, type Dial } from "../../adapters/net/tcp-relay.js";
import { isService, Services } from "./services.js";
import { DISCARD_OUTPUT, runSteps, type SetupOutput } from "./setup-runner.js";
import type { Logger } from "../log.js";
import { AccountProvisioner } from "./account-provisioner.js";
import { evictUnregistered, evictUser, type EvictionDeps } from "./eviction.js";
import { NetworkLinger } from "./network-linger.js";
import { Pool, type Pooled } from "./pool.js";
import { SubnetTable } from "./subnet-table.js";
import { projectsOf, stopEnvironments, type StopResult } from "./stop.js";

/** A live (user, project) environment as the daemon sees it: one container, counted sessions. */
export interface Environment {
  readonly key: string;
  readonly user: string;
  readonly project: string;
  readonly containerId: string;
  /**
   * The network its container has its address on: the user's own, or for a container claimed
   * from the pool, the one made for that container (it stays there; it goes with the container).
   */
  readonly network: string;
  /** Null until its ready marker has been read (an environment recovered after a restart). */
  readonly account: ContainerAccount | null;
  sessions: number;
  /** The container's creation time (ms): max_lifetime counts from it. */
  readonly createdAt: number;
  /** Its companion services' containers: each counts toward max_environments like the environment itself. */
  services: number;
  graceTimer: NodeJS.Timeout | null;
  lifetimeTimer: NodeJS.Timeout | null;
}

export interface EnvironmentsOptions {
  readonly instance: string;
  readonly runtime: ContainerRuntime;
  readonly config: () => NodeConfig;
  readonly log: Logger;
  /** The user's host-unique container uid/gid (podAccountId of the host account), or null without a host account. */
  readonly podIdOf: (user: string) => number | null;
  readonly now?: () => number;
  /** Asked before an environment is created or recreated: an error refuses it (a drained node). @default - never refuses */
  readonly refuseNew?: () => Error | null;
  /** How a service's readiness check connects. @default a TCP connect with a timeout */
  readonly dial?: Dial;
}

/** What a login wants of its environment. */
export interface AcquireOptions {
  /** The image to run without a plan. @default config.image */
  readonly image?: string;
  /** The project's plan: its container spec, services and setup. @default the node's default container */
  readonly plan?: EnvironmentPlan;
  /** Where a new container's setup output goes (the login's stderr). @default discarded */
  readonly output?: SetupOutput;
}

/** One login's target: who, and the container the config wants for them now. */
interface Target {
  readonly key: string;
  readonly user: string;
  readonly project: string;
  readonly spec: ContainerSpec;
  readonly plan: EnvironmentPlan | null;
  readonly output: SetupOutput;
}

/** What the engine has under the container's name, and the account its ready marker records. */
interface Inspected {
  readonly container: ManagedContainer;
  readonly found: FoundContainer;
  /** From the ready marker; null when it was not read or is not valid. */
  readonly markerAccount: ContainerAccount | null;
}

function knownFacts(env: Environment | null): KnownEnvironment | null {
  return env && { containerId: env.containerId, sessions: env.sessions, ready: env.account !== null };
}

/**
 * The daemon's table of environments: create or reattach under a per-user lock, count live
 * sessions, remove after the grace period once the last session has gone, and at max_lifetime.
 * Docker labels are the source of truth; `recover()` rebuilds the table from them after a restart.
 * The decision itself is pure (core/container/attach-decision); accounts, networks and eviction
 * live in their own units beside this one.
 */
export class Environments {
  private readonly table = new Map<string, Environment>();
  /** New environments admitted and being made, not in the table yet: they count toward the node's capacity. */
  private readonly creating = new Map<string, number>();
  private readonly subnets: SubnetTable;
  private readonly lock = new KeyedLock();
  private readonly accounts: AccountProvisioner;
  private readonly networks: NetworkLinger;
  private readonly eviction: EvictionDeps<Environment>;
  private readonly now: () => number;
  private readonly services: Services;
  /** Pre-warmed containers per spec: a first login claims one (pool.ts). */
  readonly pool: Pool;

  constructor(private readonly opts: EnvironmentsOptions) {
    this.now = opts.now ?? Date.now;
    this.accounts = new AccountProvisioner(opts.runtime, opts.podIdOf);
    const { instance, runtime, log } = opts;
    this.subnets = new SubnetTable(instance, () => opts.config().network);
    this.networks = new NetworkLinger({
      instance,
      runtime,
      log,
      lock: this.lock,
      lingerMs: () => opts.config().networkLingerMs,
      inUse: (u) => this.hasAnyFor(u),
      subnets: this.subnets,
      environments: () => this.table.size,
      freeBlock: () => this.pool.giveUpOne(),
    });
    this.pool = new Pool({
      instance,
      runtime,
      log,
      accounts: this.accounts,
      networks: this.networks,
      config: opts.config,
      environments: () => this.weight(),
      // Only the user-independent fields are read: the placeholder user never reaches the engine.
      defaultTemplate: () => poolTemplateOf(containerSpec(instance, "pool", DEFAULT_PROJECT, opts.config())),
      ...(opts.refuseNew ? { refuseNew: opts.refuseNew } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
    this.services = new Services({ instance, runtime, log, subnets: this.subnets, learn: () => this.networks.learn(), environments: () => this.weight(), dial: opts.dial ?? dialTcp, ...(opts.now ? { now: opts.now } : {}) });
    this.eviction = { instance, runtime, log, lock: this.lock, networks: this.networks, environments: () => this.list(), destroy: (env, reason) => this.destroy(env, reason), servicesDown: (user, project) => this.services.down(user, project, "stopped"), leftoverServices: (user, project, reason) => this.removeLeftoverServices(user, project, reason) };
  }

  static key(user: string, project: string): string {
    return `${user}/${project}`;
  }

  has(user: string, project: string): boolean {
    return this.table.has(Environments.key(user, project));
  }

  list(): readonly Environment[] {
    return [...this.table.values()];
  }

  /** Blocks of the address pool in use (by anyone on the engine) and free. */
  addressPool(): { readonly used: number; readonly free: number } {
    return this.subnets.usage();
  }

  /** Containers the node holds for users (environments with their services, and those being made). */
  private weight(): number {
    let n = 0;
    for (const e of this.table.values()) n += 1 + e.services;
    for (const w of this.creating.values()) n += w;
    return n;
  }

  private hasAnyFor(user: string): boolean {
    return [...this.table.values()].some((e) => e.user === user);
  }

  /**
   * After a daemon restart: adopt what Docker has; nothing is connected, so start grace timers.
   * Unclaimed pooled containers go back to the pool (never to a user); claimed ones are adopted
   * from their ready marker, the only record of whose they are.
   */
  async recover(): Promise<number> {
    await this.networks.learn();
    const all = await this.opts.runtime.listManaged(this.opts.instance);
    const found = all.filter((c) => !isService(c));
    let adopted = 0;
    for (const c of found) {
      const env = isPooled(c.labels) ? await this.claimedFrom(c) : c.user && c.project ? this.fromContainer(c, null) : null;
      if (!env) continue;
      // Not trusted yet (labels only): the first login reads its ready marker before attaching.
      this.track(env, null);
      this.scheduleRemoval(env);
      this.armLifetime(env, this.opts.config());
      adopted++;
    }
    await this.adoptServices(all.filter(isService));
    await this.pool.adopt(found);
    return adopted;
  }

  /**
   * Services count with their environment; those whose environment is gone go too, and so do
   * services networks (found by their labels) of (user, project)s without an environment: a
   * daemon that died between the network and its containers left one with nothing on it.
   */
  private async adoptServices(services: readonly ManagedContainer[]): Promise<void> {
    const orphans = new Set<string>();
    for (const c of services) {
      const env = this.table.get(Environments.key(c.user, c.project));
      if (env) env.services++;
      else orphans.add(Environments.key(c.user, c.project));
    }
    for (const { user, project } of await this.services.networkOwners()) if (!this.table.has(Environments.key(user, project))) orphans.add(Environments.key(user, project));
    for (const key of orphans) {
      const [user = "", project = ""] = key.split("/");
      await this.services.down(user, project, "orphaned").catch((e: unknown) => this.opts.log({ kind: "error", code: "container-remove", message: `removing the services of ${key} failed`, detail: String(e) }));
    }
  }

  /**
   * Services networks of `user` (of `project`, or of all) that no environment in the table owns,
   * with any service left on them: removed under the user's lock (a login making one waits).
   */
  private async removeLeftoverServices(user: string, project: string | null, reason: string): Promise<void> {
    for (const p of await this.services.networkProjects(user)) {
      if (project !== null && p !== project) continue;
      await this.lock.run(user, async () => {
        if (!this.table.has(Environments.key(user, p))) await this.services.down(user, p, reason);
      });
    }
  }

  /** A pooled container renamed for (user, project) whose marker records that claim, as an environment. */
  private async claimedFrom(c: ManagedContainer): Promise<Environment | null> {
    const owner = pooledOwner(this.opts.instance, c.name);
    if (owner === null || owner === "unclaimed") return null;
    const read = await this.accounts.readClaim(c.id, owner.user).catch(() => null);
    const env = this.fromContainer(c, read?.account ?? null, owner);
    const attached = c.running && (await this.opts.runtime.containerAddress(c.id, env.network).catch(() => null)) !== null;
    // No valid claim, or cut short before its network: the first login replaces it.
    if (!read || read.claim.project !== owner.project || !attached) return this.removeCutShort(c);
    return { ...env, createdAt: read.claim.claimedAtMs };
  }

  /**
   * Make sure the container for (user, project) exists, runs and has the user's account, and count
   * one more session on it. The per-user lock serialises concurrent first logins (and the per-user
   * network creation). With `want.plan`, a new container gets the plan's services (up and ready)
   * and its create-time setup before the first session.
   */
  async acquire(user: string, project: string, want: AcquireOptions = {}): Promise<Environment> {
    return this.lock.run(user, async () => {
      const config = this.opts.config();
      const target = this.targetOf(user, project, want, config);
      const known = this.table.get(target.key) ?? null;
      const admitted = this.admit(target, known, config);
      if (known) this.cancelRemoval(known);
      try {
        const inspected = await this.inspect(target, known);
        const decision = decideAttach(knownFacts(known), inspected?.found ?? null, target.spec.labels, poolTemplateOf(target.spec)?.hash ?? null);
        const env = await this.apply(decision, target, known, inspected);
        env.sessions++;
        this.armLifetime(env, config);
        return env;
      } catch (err) {
        if (err instanceof LimitRefusal) this.logRefusal(target, err);
        // Whatever failed, an environment nobody uses must still be reaped.
        const left = this.table.get(target.key);
        if (left && left.sessions === 0) this.scheduleRemoval(left);
        throw err;
      } finally {
        admitted.done();
      }
    });
  }

  private targetOf(user: string, project: string, want: AcquireOptions, config: NodeConfig): Target {
    const shaped = want.image === undefined ? config : { ...config, image: want.image };
    const spec = want.plan?.container ?? containerSpec(this.opts.instance, user, project, shaped);
    return { key: Environments.key(user, project), user, project, spec, plan: want.plan ?? null, output: want.output ?? DISCARD_OUTPUT };
  }

  /**
   * Quotas and the node's capacity, decided before any engine call (a refused login creates
   * nothing). Counting under the user's lock is exact for that user; a new environment holds a
   * node slot in `creating` from here until it is in the table, so concurrent first logins of
   * different users cannot overshoot `max_environments` either.
   */
  private admit(target: Target, known: Environment | null, config: NodeConfig): { done(): void } {
    const mine = this.list().filter((e) => e.user === target.user);
    // Pooled containers being made hold a slot too; idle ones give theirs up (pool.makeRoom).
    // A new environment needs a slot for each of its services too.
    const services = known ? 0 : (target.plan?.services.length ?? 0);
    const nodeEnvironments = this.weight() + this.pool.fillingCount() + services;
    const facts = { project: target.project, userProjects: mine.map((e) => e.project), userSessions: mine.reduce((n, e) => n + e.sessions, 0), nodeEnvironments };
    const refusal = admitLogin(facts, config.limits, config.session);
    if (refusal) {
      this.logRefusal(target, refusal);
      throw refusal;
    }
    if (known) return { done: () => undefined };
    this.creating.set(target.key, 1 + services);
    return { done: () => this.creating.delete(target.key) };
  }

  private logRefusal(target: Target, refusal: LimitRefusal): void {
    this.opts.log({ kind: "refused", user: target.user, project: target.project, limit: refusal.limit, message: refusal.message });
  }

  /** Reads the ready marker only for a container of ours that the table cannot vouch for. */
  private async inspect(target: Target, known: Environment | null): Promise<Inspected | null> {
    const c = await this.opts.runtime.inspectByName(target.spec.name);
    if (!c) return null;
    const facts = { id: c.id, labels: c.labels, running: c.running };
    if (!mustReadMarker(knownFacts(known), facts, target.spec.labels)) return { container: c, found: { ...facts, marker: null }, markerAccount: null };
    const read = await this.accounts.readMarker(c.id, target.user, isPooled(c.labels) ? target.project : undefined);
    // A container made before the user had an id of their own (or for another host account of the
    // same name) is replaced like an unmarked one: its processes would run as the old uid.
    const markerAccount = read !== null && this.isCurrent(read) ? read : null;
    return { container: c, found: { ...facts, marker: markerAccount !== null }, markerAccount };
  }

  private async apply(decision: AttachDecision, target: Target, known: Environment | null, inspected: Inspected | null): Promise<Environment> {
    if (decision.action === "create" || decision.action === "recreate") {
      // Before the engine is touched: a refused recreate must not remove the container it would replace.
      const refusal = this.opts.refuseNew?.();
      if (refusal) throw refusal;
    }
    switch (decision.action) {
      case "refuse":
        throw new Error(`container ${target.spec.name} is labelled for ${decision.owner}, not ${target.user}/${target.project}`);
      case "create":
        return this.create(target, known);
      case "recreate":
        if (inspected) await this.removeFound(target, inspected.container, decision.reason);
        return this.create(target, known);
      case "reuse":
      case "start": {
        if (decision.adopt && inspected && !(await this.setupFinished(target, inspected.container.id))) {
          await this.removeFound(target, inspected.container, "setup-unfinished");
          return this.create(target, known);
        }
        const env = decision.adopt || !known ? this.adopt(inspected, known, target) : known;
        if (decision.action === "start" || decision.adopt) await this.bringUpServices(env, target);
        if (decision.action === "start") await this.start(env);
        return env;
      }
    }
  }

  /** A container taken over (after a restart) ran its create-time setup to the end: its marker says so. */
  private async setupFinished(target: Target, containerId: string): Promise<boolean> {
    if (!target.plan || !hasCreateSteps(target.plan)) return true;
    const text = (await this.opts.runtime.readFiles(containerId, [SETUP_MARKER_PATH])).get(SETUP_MARKER_PATH);
    return text !== undefined && isSetupMarkerOf(text.toString("utf8"), containerId);
  }

  /** Services of an environment taken over or started again: whatever stopped or went is brought back. */
  private async bringUpServices(env: Environment, target: Target): Promise<void> {
    const plan = target.plan;
    if (!plan) return;
    await this.services.up(plan, target.user, target.project);
    env.services = plan.services.length;
    if (plan.servicesNetwork) await this.opts.runtime.connectNetwork(env.containerId, plan.servicesNetwork.name);
    await this.services.waitReady(plan, target.user, target.project);
  }

  /** Take over a container whose ready marker was just read (it replaces whatever the table held). */
  private adopt(inspected: Inspected | null, known: Environment | null, target: Target): Environment {
    if (!inspected?.markerAccount) throw new Error("adopting a container whose ready marker was not read"); // unreachable: decideAttach
    return this.track(this.fromContainer(inspected.container, inspected.markerAccount, target), known);
  }

  /** The account runs as the user's own container id (podIdOf), not one an older daemon or another host account chose. */
  private isCurrent(account: ContainerAccount): boolean {
    const id = this.opts.podIdOf(account.name);
    return account.uid === id && account.gid === id;
  }

  /** A claimed pooled container recover cannot vouch for goes at once: its user's next login makes another. */
  private async removeCutShort(c: ManagedContainer): Promise<null> {
    await this.opts.runtime.remove(c.id).catch((e: unknown) => this.opts.log({ kind: "error", code: "container-remove", message: `removing ${c.name} failed`, detail: String(e) }));
    this.opts.log({ kind: "pool-removed", spec: c.labels[LABEL.specHash] ?? "", container: c.name, reason: "not-pristine" });
    await this.removeOwnNetwork(pooledNetworkOf(this.opts.instance, c.labels), "not-pristine");
    return null;
  }

  /** New, or removed (by us or behind our back, its network possibly with it): build both again. */
  private async create(target: Target, known: Environment | null): Promise<Environment> {
    const { spec } = target;
    const imageId = await this.opts.runtime.imageId(spec.image);
    if (imageId === null) throw new UserFacingError("image-missing", `the environment image ${spec.image} is not available on this node`, "build it with scripts/build-image or pull it");
    // The pool covers environments without services: a claim never waits for a service.
    const template = target.plan && target.plan.services.length > 0 ? null : poolTemplateOf(spec);
    const pooled = template && this.pool.claim(template, imageId, target);
    if (pooled) {
      const claimed = await this.claim(pooled, imageId, target, known);
      void this.pool.refill();
      if (claimed) return this.setUp(claimed, target);
    }
    this.pool.makeRoom(template?.hash ?? null);
    const env = await this.createFresh(target, known, imageId);
    // A miss made this spec one in use: its pool fills once this login is served.
    if (template) void this.pool.refill();
    return this.setUp(env, target);
  }

  /** Network, services, the container with its account, started: nothing of it is left behind if a step fails. */
  private async createFresh(target: Target, known: Environment | null, imageId: string): Promise<Environment> {
    const { user, project, spec, plan } = target;
    await this.networks.ensure(user);
    const t0 = this.now();
    let tracked = false;
    try {
      // Services first: they start while the dev container is made. A plan without services
      // still takes away those of an earlier one (and their network).
      if (plan && (plan.services.length > 0 || this.services.hasNetwork(user, project))) await this.services.up(plan, user, project);
      const id = await this.opts.runtime.create(spec);
      if (plan?.servicesNetwork) await this.joinOrRemove(id, plan.servicesNetwork.name);
      const account = await this.provisionOrRemove(id, imageId, target);
      this.opts.log({ kind: "container-created", user, project, container: spec.name, ms: this.now() - t0 });
      const env = this.track({ key: target.key, user, project, containerId: id, network: spec.network, account, sessions: 0, createdAt: this.now(), services: plan?.services.length ?? 0, graceTimer: null, lifetimeTimer: null }, known);
      tracked = true;
      await this.start(env);
      return env;
    } catch (err) {
      // Made for this container and not owned by a tracked environment: nothing of it stays, the network included.
      if (!tracked && (plan?.servicesNetwork || this.services.hasNetwork(user, project))) await this.services.down(user, project, "create-failed").catch((e: unknown) => this.opts.log({ kind: "error", code: "container-remove", message: `removing the services of ${target.key} failed`, detail: String(e) }));
      throw err;
    }
  }

  private async joinOrRemove(id: string, network: string): Promise<void> {
    try {
      await this.opts.runtime.connectNetwork(id, network);
    } catch (err) {
      await this.opts.runtime.remove(id).catch(() => undefined);
      throw err;
    }
  }

  /**
   * A new container's first-session work: its services ready, then dotfiles, repos and on_create
   * as the user, output on the login's stderr, and the setup marker that makes it once. If any of
   * it fails the whole environment goes (container, services, transient volumes): a half set up
   * container must not be attached to later as if it were ready, and the next login starts clean.
   */
  private async setUp(env: Environment, target: Target): Promise<Environment> {
    const plan = target.plan;
    if (!plan || (plan.services.length === 0 && !hasCreateSteps(plan))) return env;
    const t0 = this.now();
    try {
      await this.services.waitReady(plan, env.user, env.project);
      if (!hasCreateSteps(plan)) return env;
      if (!env.account) throw new Error("setting up an environment whose account is not known"); // unreachable: made here
      const steps = createSteps(plan, env.account);
      await runSteps(steps, { runtime: this.opts.runtime, containerId: env.containerId, environment: plan.name, output: target.output, keptOnFailure: false });
      await this.opts.runtime.writeFiles(env.containerId, [{ path: SETUP_MARKER_PATH.slice(1), type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from(renderSetupMarker(env.containerId)) }]);
      this.opts.log({ kind: "setup-done", user: env.user, project: env.project, container: target.spec.name, steps: steps.length, ms: this.now() - t0 });
      return env;
    } catch (err) {
      await this.removeLocked(env, "setup-failed");
      throw err;
    }
  }

  /**
   * Make a pooled container this user's: its name, their network (with its block of the address
   * pool), their account, then the ready marker that records the claim. Null if any step failed:
   * the container is removed and the login takes the normal path.
   */
  private async claim(pooled: Pooled, imageId: string, target: Target, known: Environment | null): Promise<Environment | null> {
    const { user, project, spec } = target;
    const t0 = this.now();
    try {
      // Both at once, and no network call: the container stays on the network made for it. The
      // marker proves the claim only together with the user's name, which recover checks.
      const claimedAt = this.now();
      const [, account] = await Promise.all([this.opts.runtime.rename(pooled.id, spec.name), this.accounts.provision(pooled.id, imageId, user, spec, { project, claimedAtMs: claimedAt }, target.plan?.session.shell ?? null)]);
      this.opts.log({ kind: "pool-claimed", user, project, container: spec.name, ms: this.now() - t0 });
      return this.track({ key: target.key, user, project, containerId: pooled.id, network: pooled.network, account, sessions: 0, createdAt: claimedAt, services: 0, graceTimer: null, lifetimeTimer: null }, known);
    } catch (err) {
      this.opts.log({ kind: "error", code: "pool-fill", message: `claiming ${pooled.name} for ${target.key} failed; creating one instead`, detail: String(err) });
      await this.opts.runtime.remove(pooled.id).catch(() => undefined);
      await this.removeOwnNetwork(pooled.network, "claim-failed");
      return null;
    }
  }

  /** The network made for one pooled container, after that container went. Never throws. */
  private async removeOwnNetwork(network: string | null, reason: string): Promise<void> {
    if (network === null || !isPooledNetworkName(this.opts.instance, network)) return;
    await this.networks.removeNetwork(network, reason);
  }

  /** A container whose account could not be written must not stay (it has no ready marker anyway). */
  private async provisionOrRemove(id: string, imageId: string, target: Target): Promise<ContainerAccount> {
    try {
      return await this.accounts.provision(id, imageId, target.user, target.spec, null, target.plan?.session.shell ?? null);
    } catch (err) {
      await this.opts.runtime.remove(id).catch((e: unknown) => this.opts.log({ kind: "error", code: "container-remove", message: `removing half-made ${target.spec.name} failed`, detail: String(e) }));
      throw err;
    }
  }

  private async removeFound(target: Target, c: ManagedContainer, reason: string): Promise<void> {
    await this.opts.runtime.remove(c.id);
    this.opts.log({ kind: "container-removed", user: target.user, project: target.project, container: c.name, reason });
  }

  private async start(env: Environment): Promise<void> {
    await this.opts.runtime.start(env.containerId);
    this.opts.log({ kind: "container-started", user: env.user, project: env.project, container: containerName(this.opts.instance, env.user, env.project) });
  }

  /**
   * `owner`: whose it is, when its labels cannot say (a claimed pooled container names nobody;
   * its claim was proved by its marker). A claimed one stays on the network made for it; one
   * claimed by a daemon from before pool networks has none of its own: it is on its user's.
   */
  private fromContainer(c: ManagedContainer, account: ContainerAccount | null, owner: { readonly user: string; readonly project: string } = c): Environment {
    const { user, project } = owner;
    const network = pooledNetworkOf(this.opts.instance, c.labels) ?? this.networks.nameOf(user);
    return { key: Environments.key(user, project), user, project, containerId: c.id, network, account, sessions: 0, createdAt: c.createdMs, services: 0, graceTimer: null, lifetimeTimer: null };
  }

  /** Put `env` in the table; the entry it replaces keeps no timers (its late releases change nothing). */
  private track(env: Environment, replacing: Environment | null): Environment {
    if (replacing) this.clearTimers(replacing);
    this.table.set(env.key, env);
    this.creating.delete(env.key);
    return env;
  }

  /** One session ended (for any reason: exit, disconnect, kill -9 of the client). */
  release(env: Environment): void {
    env.sessions = Math.max(0, env.sessions - 1);
    if (env.sessions === 0) this.scheduleRemoval(env);
  }

  private cancelRemoval(env: Environment): void {
    if (env.graceTimer) clearTimeout(env.graceTimer);
    env.graceTimer = null;
  }

  private clearTimers(env: Environment): void {
    this.cancelRemoval(env);
    if (env.lifetimeTimer) clearTimeout(env.lifetimeTimer);
    env.lifetimeTimer = null;
  }

  private scheduleRemoval(env: Environment): void {
    this.cancelRemoval(env);
    const config = this.opts.config();
    const ms = config.session.mode === "destroy-on-disconnect" ? 0 : config.session.gracePeriodMs;
    this.opts.log({ kind: "grace-scheduled", user: env.user, project: env.project, ms });
    env.graceTimer = setTimeout(() => {
      env.graceTimer = null;
      void this.removeIfIdle(env, "grace-expired");
    }, ms);
    env.graceTimer.unref();
  }

  /** Counted from the container's creation, so a daemon restart does not extend a lifetime. */
  private armLifetime(env: Environment, config: NodeConfig): void {
    if (config.session.maxLifetimeMs <= 0 || env.lifetimeTimer) return;
    const remaining = Math.max(0, env.createdAt + config.session.maxLifetimeMs - this.now());
    env.lifetimeTimer = setTimeout(() => void this.destroy(env, "max-lifetime"), remaining);
    env.lifetimeTimer.unref();
  }

  private async removeIfIdle(env: Environment, reason: string): Promise<void> {
    await this.lock.run(env.user, async () => {
      if (env.sessions > 0 || this.table.get(env.key) !== env) return;
      await this.removeLocked(env, reason);
    });
  }

  /** Remove now, sessions or not (max lifetime, admin eviction). */
  async destroy(env: Environment, reason: string): Promise<void> {
    await this.lock.run(env.user, async () => {
      if (this.table.get(env.key) !== env) return;
      await this.removeLocked(env, reason);
    });
  }

  private async removeLocked(env: Environment, reason: string): Promise<void> {
    this.clearTimers(env);
    this.table.delete(env.key);
    try {
      await this.opts.runtime.remove(env.containerId);
      this.opts.log({ kind: "container-removed", user: env.user, project: env.project, container: containerName(this.opts.instance, env.user, env.project), reason });
      // Also a network whose services were never made (the first one failed, or a crash between).
      if (env.services > 0 || this.services.hasNetwork(env.user, env.project)) await this.services.down(env.user, env.project, reason);
      await this.removeOwnNetwork(env.network, reason);
      if (!this.hasAnyFor(env.user)) this.networks.release(env.user);
    } catch (err) {
      this.opts.log({ kind: "error", code: "container-remove", message: `removing ${env.key} failed`, detail: String(err) });
    }
  }

  /** Containers and home volumes of users no longer in the key registry go (see eviction.ts). */
  async evictUnregistered(registered: ReadonlySet<string>): Promise<string[]> {
    return evictUnregistered(this.eviction, registered);
  }

  /** Every environment and home volume of one user (remove-user, sync). */
  async evict(user: string): Promise<number> {
    return evictUser(this.eviction, user);
  }

  /** `podspawn stop`: the user's environments (of one project, or all), and with purge their home volumes (see stop.ts). */
  async stop(user: string, project: string | null, purge: boolean): Promise<StopResult> {
    return stopEnvironments(this.eviction, user, project, purge);
  }

  /** The user's projects with an environment, a container or (withVolumes) a home volume here. */
  async projectsOf(user: string, withVolumes: boolean): Promise<Set<string>> {
    return projectsOf(this.eviction, user, withVolumes);
  }
}
