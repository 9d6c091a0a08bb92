import { containerName, containerSpec, LABEL, networkSpec, type ContainerSpec } from "../../core/container/container-spec.js";
import { planAccount } from "../../core/container/account-plan.js";
import type { ContainerAccount } from "../../core/container/exec-plan.js";
import { UserFacingError } from "../../core/errors.js";
import { KeyedLock } from "../../support/keyed-lock.js";
import type { NodeConfig } from "../../core/config/node-config.js";
import type { ContainerRuntime, ManagedContainer } from "../../core/ports/container-runtime.js";
import type { Logger } from "../log.js";

const SKELETON_FILES = [".bashrc", ".profile", ".bash_logout"];

interface ImageFacts {
  readonly passwd: string;
  readonly group: string;
  readonly hasBash: boolean;
  /** Skeleton dotfiles by file name. */
  readonly skel: ReadonlyMap<string, Buffer>;
}

/** Never attach a session to a container labelled for someone else, whatever its name says. */
function assertOwned(c: ManagedContainer, user: string, project: string): void {
  if (c.user !== user || c.project !== project) {
    throw new Error(`container ${c.name} is labelled for ${c.user}/${c.project}, not ${user}/${project}`);
  }
}

/** A live (user, project) environment as the daemon sees it. */
export interface Environment {
  readonly key: string;
  readonly user: string;
  readonly project: string;
  containerId: string;
  account: ContainerAccount | null;
  sessions: number;
  createdAt: number;
  graceTimer: NodeJS.Timeout | null;
  lifetimeTimer: NodeJS.Timeout | null;
}

export interface EnvironmentsOptions {
  readonly instance: string;
  readonly runtime: ContainerRuntime;
  readonly config: () => NodeConfig;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * Owns the lifecycle of containers and networks: create or reattach under a per-user lock, count
 * live sessions, and remove after the grace period once the last session has gone. Docker labels
 * are the source of truth; `recover()` rebuilds this table from them after a restart.
 */
export class Environments {
  private readonly table = new Map<string, Environment>();
  private readonly lock = new KeyedLock();
  private readonly imageFactsCache = new Map<string, ImageFacts>();
  /** Per user: removal of a network whose last container has gone (see network_linger). */
  private readonly networkTimers = new Map<string, NodeJS.Timeout>();
  private readonly now: () => number;

  constructor(private readonly opts: EnvironmentsOptions) {
    this.now = opts.now ?? Date.now;
  }

  static key(user: string, project: string): string {
    return `${user}/${project}`;
  }

  has(user: string, project: string): boolean {
    return this.table.has(Environments.key(user, project));
  }

  /** The name of the user's own network (where their containers have their addresses). */
  networkOf(user: string): string {
    return networkSpec(this.opts.instance, user).name;
  }

  private hasAnyFor(user: string): boolean {
    return [...this.table.values()].some((e) => e.user === user);
  }

  list(): readonly Environment[] {
    return [...this.table.values()];
  }

  /** After a daemon restart: adopt what Docker has; nothing is connected, so start grace timers. */
  async recover(): Promise<number> {
    const found = await this.opts.runtime.listManaged(this.opts.instance);
    let adopted = 0;
    for (const c of found) {
      if (!c.user || !c.project) continue;
      const env = this.adopt(c);
      this.scheduleRemoval(env);
      this.armLifetime(env, this.opts.config());
      adopted++;
    }
    return adopted;
  }

  private adopt(c: ManagedContainer): Environment {
    const key = Environments.key(c.user, c.project);
    const env: Environment = { key, user: c.user, project: c.project, containerId: c.id, account: null, sessions: 0, createdAt: c.createdMs, graceTimer: null, lifetimeTimer: null };
    this.table.set(key, env);
    return env;
  }

  /**
   * Make sure the container for (user, project) exists and runs, and count one more session on it.
   * The per-user lock serialises concurrent first logins (and the per-user network creation).
   */
  async acquire(user: string, project: string): Promise<Environment> {
    return this.lock.run(user, async () => {
      const key = Environments.key(user, project);
      const config = this.opts.config();
      const spec = containerSpec(this.opts.instance, user, project, config);
      let env = this.table.get(key);
      if (env) this.cancelRemoval(env);
      try {
        let current = await this.opts.runtime.inspectByName(spec.name);
        if (current) assertOwned(current, user, project);
        if (!env && current) env = this.adopt(current);
        if (env && env.sessions === 0 && current && current.specHash !== spec.labels[LABEL.specHash]) {
          // Config changed while nobody was connected: recreate rather than run with stale limits.
          await this.opts.runtime.remove(current.id);
          this.opts.log({ kind: "container-removed", user, project, container: current.name, reason: "config-changed" });
          if (env.lifetimeTimer) clearTimeout(env.lifetimeTimer);
          this.table.delete(key);
          env = undefined;
          current = null;
        }
        if (!current) {
          // New, or removed behind our back (its network possibly with it): build both again.
          const imageId = await this.opts.runtime.imageId(spec.image);
          if (imageId === null) throw new UserFacingError("image-missing", `the environment image ${spec.image} is not available on this node`, "build it with scripts/build-image or pull it");
          this.cancelNetworkRemoval(user);
          const net = networkSpec(this.opts.instance, user);
          if (await this.opts.runtime.ensureNetwork(net)) this.opts.log({ kind: "network-created", network: net.name });
          const made = await this.createContainer(user, project, spec, imageId);
          if (env) {
            env.containerId = made.id;
            env.account = made.account;
            env.createdAt = this.now();
          } else {
            env = { key, user, project, containerId: made.id, account: made.account, sessions: 0, createdAt: this.now(), graceTimer: null, lifetimeTimer: null };
            this.table.set(key, env);
          }
        }
        const live = env;
        if (!live) throw new Error(`no environment for ${key} after create`); // unreachable: adopted or created above
        live.sessions++;
        try {
          if (!current || !current.running) {
            await this.opts.runtime.start(live.containerId);
            this.opts.log({ kind: "container-started", user, project, container: spec.name });
          }
          if (!live.account) live.account = await this.readAccount(live);
        } catch (err) {
          live.sessions--;
          throw err;
        }
        this.armLifetime(live, config);
        return live;
      } catch (err) {
        // Whatever failed, an environment nobody uses must still be reaped.
        if (env && env.sessions === 0 && this.table.get(env.key) === env) this.scheduleRemoval(env);
        throw err;
      }
    });
  }

  /**
   * What the account plan needs from an image, read once per image id: every archive call makes
   * the engine mount the container's filesystem (~30 ms), and a cold login should pay one.
   */
  private async imageFacts(id: string, imageId: string): Promise<ImageFacts> {
    const cached = this.imageFactsCache.get(imageId);
    if (cached) return cached;
    const files = await this.opts.runtime.readFiles(id, ["/etc/passwd", "/etc/group", ...SKELETON_FILES.map((f) => `/etc/skel/${f}`)]);
    const facts: ImageFacts = {
      passwd: files.get("/etc/passwd")?.toString("utf8") ?? "root:x:0:0:root:/root:/bin/sh\n",
      group: files.get("/etc/group")?.toString("utf8") ?? "root:x:0:\n",
      hasBash: await this.opts.runtime.pathExists(id, "/bin/bash"),
      skel: new Map([...files].filter(([p]) => p.startsWith("/etc/skel/")).map(([p, data]) => [p.slice("/etc/skel/".length), data])),
    };
    if (this.imageFactsCache.size >= 64) this.imageFactsCache.delete(this.imageFactsCache.keys().next().value as string);
    this.imageFactsCache.set(imageId, facts);
    return facts;
  }

  /** Create the container and write the pod user's account into it before it starts. */
  private async createContainer(user: string, project: string, spec: ContainerSpec, imageId: string): Promise<{ id: string; account: ContainerAccount }> {
    const t0 = this.now();
    const id = await this.opts.runtime.create(spec);
    const facts = await this.imageFacts(id, imageId);
    const plan = planAccount(user, facts.passwd, facts.group, facts.hasBash);
    const a = plan.account;
    const home = a.home.replace(/^\//, "");
    // The image's skeleton dotfiles (prompt, PATH, aliases), unless a persistent home has its own.
    const keepHome = spec.homeVolume !== null && (await this.opts.runtime.pathExists(id, `${a.home}/.profile`));
    const skel = keepHome ? new Map<string, Buffer>() : facts.skel;
    await this.opts.runtime.writeFiles(id, [
      ...(plan.passwd !== null ? [{ path: "etc/passwd", type: "file" as const, mode: 0o644, uid: 0, gid: 0, data: Buffer.from(plan.passwd) }] : []),
      ...(plan.group !== null ? [{ path: "etc/group", type: "file" as const, mode: 0o644, uid: 0, gid: 0, data: Buffer.from(plan.group) }] : []),
      { path: home, type: "dir", mode: 0o750, uid: a.uid, gid: a.gid },
      ...[...skel].map(([name, data]) => ({ path: `${home}/${name}`, type: "file" as const, mode: 0o644, uid: a.uid, gid: a.gid, data })),
    ]);
    this.opts.log({ kind: "container-created", user, project, container: spec.name, ms: this.now() - t0 });
    return { id, account: a };
  }

  private async readAccount(env: Environment): Promise<ContainerAccount> {
    const files = await this.opts.runtime.readFiles(env.containerId, ["/etc/passwd", "/etc/group"]);
    const hasBash = await this.opts.runtime.pathExists(env.containerId, "/bin/bash");
    return planAccount(env.user, files.get("/etc/passwd")?.toString("utf8") ?? "", files.get("/etc/group")?.toString("utf8") ?? "", hasBash).account;
  }

  /** One session ended (for any reason: exit, disconnect, kill -9 of the client). */
  release(env: Environment): void {
    env.sessions = Math.max(0, env.sessions - 1);
    if (env.sessions === 0) this.scheduleRemoval(env);
  }

  private cancelNetworkRemoval(user: string): void {
    const t = this.networkTimers.get(user);
    if (t) clearTimeout(t);
    this.networkTimers.delete(user);
  }

  private scheduleNetworkRemoval(user: string): void {
    this.cancelNetworkRemoval(user);
    const remove = async (): Promise<void> => {
      this.networkTimers.delete(user);
      await this.lock.run(user, async () => {
        if (this.hasAnyFor(user)) return;
        const net = this.networkOf(user);
        try {
          await this.opts.runtime.removeNetwork(net);
          this.opts.log({ kind: "network-removed", network: net });
        } catch (err) {
          this.opts.log({ kind: "error", message: `removing network ${net} failed`, detail: String(err) });
        }
      });
    };
    const ms = this.opts.config().networkLingerMs;
    if (ms <= 0) {
      void remove();
      return;
    }
    const t = setTimeout(() => void remove(), ms);
    t.unref();
    this.networkTimers.set(user, t);
  }

  private cancelRemoval(env: Environment): void {
    if (env.graceTimer) clearTimeout(env.graceTimer);
    env.graceTimer = null;
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
    this.cancelRemoval(env);
    if (env.lifetimeTimer) clearTimeout(env.lifetimeTimer);
    this.table.delete(env.key);
    try {
      await this.opts.runtime.remove(env.containerId);
      this.opts.log({ kind: "container-removed", user: env.user, project: env.project, container: containerName(this.opts.instance, env.user, env.project), reason });
      if (!this.hasAnyFor(env.user)) this.scheduleNetworkRemoval(env.user);
    } catch (err) {
      this.opts.log({ kind: "error", message: `removing ${env.key} failed`, detail: String(err) });
    }
  }

  /**
   * The key registry is the truth: containers and home volumes of users who are no longer
   * registered (removed while the daemon was down, or by hand) are evicted. Returns those users.
   */
  async evictUnregistered(registered: ReadonlySet<string>): Promise<string[]> {
    const users = new Set<string>([...this.table.values()].map((e) => e.user));
    for (const c of await this.opts.runtime.listManaged(this.opts.instance)) if (c.user) users.add(c.user);
    for (const v of await this.opts.runtime.listVolumes(this.opts.instance)) {
      // `<instance>.<user>.<project>.home`: none of the parts can contain a dot.
      const user = v.split(".")[1];
      if (user) users.add(user);
    }
    const gone = [...users].filter((u) => !registered.has(u)).sort();
    for (const user of gone) await this.evict(user);
    return gone;
  }

  /**
   * Remove every environment of a user and their persistent home volumes (remove-user, sync).
   * The volumes go too: a later account of the same name must not inherit someone's files.
   */
  async evict(user: string): Promise<number> {
    const mine = [...this.table.values()].filter((e) => e.user === user);
    for (const env of mine) await this.destroy(env, "evicted");
    // Containers the table does not know (e.g. created by an older daemon) go as well.
    const stray = (await this.opts.runtime.listManaged(this.opts.instance)).filter((c) => c.user === user);
    for (const c of stray) await this.opts.runtime.remove(c.id);
    await this.lock.run(user, async () => {
      const prefix = `${this.opts.instance}.${user}.`;
      for (const v of await this.opts.runtime.listVolumes(this.opts.instance)) {
        if (v.startsWith(prefix)) {
          await this.opts.runtime.removeVolume(v);
          this.opts.log({ kind: "volume-removed", user, volume: v });
        }
      }
      this.cancelNetworkRemoval(user);
      await this.opts.runtime.removeNetwork(this.networkOf(user));
    });
    return mine.length + stray.length;
  }
}
