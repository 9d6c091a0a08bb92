import { nodeFull } from "../../core/container/admission.js";
import { LABEL } from "../../core/container/container-spec.js";
import { formatDurationMs } from "../../core/config/units.js";
import { UserFacingError } from "../../core/errors.js";
import { formatCidr } from "../../core/net/cidr.js";
import { SERVICE_LABEL, SERVICES_NETWORK_LABEL, servicesNetworkName, serviceContainerSpec, transientVolumesOf, type EnvironmentPlan, type ServicePlan, type ServicesNetworkSpec } from "../../core/podfile/index.js";
import { NetworkInUse, SubnetTaken, type ContainerRuntime, type ManagedContainer, type ManagedNetwork } from "../../core/ports/container-runtime.js";
import type { Dial } from "../../adapters/net/tcp-relay.js";
import type { Logger } from "../log.js";
import type { SubnetTable } from "./subnet-table.js";

/** Between two readiness attempts: a server that is starting answers within a few of them. */
export const READY_RETRY_MS = 250;
/** One connection attempt's own bound, within the service's timeout. */
const READY_DIAL_MS = 1000;

export interface ServicesOptions {
  readonly instance: string;
  readonly runtime: ContainerRuntime;
  readonly log: Logger;
  /** Where services networks get their blocks: the same table (and pool) as the user networks. */
  readonly subnets: SubnetTable;
  /** Read the engine's networks into the table again (a block turned out taken). */
  readonly learn: () => Promise<void>;
  /** Environments on the node, for the "node is full" line. */
  readonly environments: () => number;
  readonly dial: Dial;
  readonly now?: () => number;
}

/** Whether a managed container is a companion service of (user, project). */
export function isServiceOf(c: ManagedContainer, user: string, project: string): boolean {
  return c.labels[SERVICE_LABEL] !== undefined && c.user === user && c.project === project;
}

export function isService(c: ManagedContainer): boolean {
  return c.labels[SERVICE_LABEL] !== undefined;
}

/** Whether a network is the services network of `user` (null: of anyone) with whole owner labels. */
function isServicesNetworkOf(n: ManagedNetwork, user: string | null): boolean {
  const owner = n.labels[LABEL.user];
  return n.labels[SERVICES_NETWORK_LABEL] === "true" && !!owner && !!n.labels[LABEL.project] && (user === null || owner === user);
}

/**
 * The companion services of Podfile environments: per (user, project) an internal network (a
 * block of the daemon's pool, no gateway out), one container per service on it with the service
 * name as its DNS alias, and their named volumes. Brought up under the user's lock before the main
 * container's setup, removed with the environment. Labels are the record (SERVICE_LABEL, the
 * owner labels, TRANSIENT_VOLUMES_LABEL): after a restart nothing else is needed to remove them.
 */
export class Services {
  private readonly now: () => number;

  constructor(private readonly opts: ServicesOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The network and every service of `plan`, running; a service left from an older plan (another
   * spec hash, or no longer in the Podfile) is replaced or removed. Call under the user's lock.
   */
  async up(plan: EnvironmentPlan, user: string, project: string): Promise<void> {
    const net = plan.servicesNetwork;
    const existing = (await this.opts.runtime.listManaged(this.opts.instance)).filter((c) => isServiceOf(c, user, project));
    const wanted = new Map(plan.services.map((s) => [s.containerName, s]));
    for (const c of existing) {
      const s = wanted.get(c.name);
      if (!s || c.specHash !== s.labels[LABEL.specHash]) await this.removeOne(c, user, project, "replaced");
    }
    if (!net || plan.services.length === 0) {
      // The Podfile dropped its services: their network goes too, once nothing is attached.
      if (this.hasNetwork(user, project)) await this.removeNetwork(user, project, "replaced");
      return;
    }
    await this.ensureNetwork(net);
    for (const s of plan.services) {
      const kept = existing.find((c) => c.name === s.containerName && c.specHash === s.labels[LABEL.specHash]);
      await this.startOne(s, kept ?? null, net.name, user, project);
    }
  }

  private async startOne(s: ServicePlan, kept: ManagedContainer | null, network: string, user: string, project: string): Promise<void> {
    const t0 = this.now();
    const id = kept?.id ?? (await this.opts.runtime.createService(serviceContainerSpec(s, network)));
    try {
      await this.opts.runtime.start(id);
    } catch (err) {
      // A service that cannot start must not stay for the next login to trip over.
      await this.opts.runtime.remove(id).catch(() => undefined);
      throw new UserFacingError("service-failed", `the ${s.name} service of your ${project} environment could not start`, String(err));
    }
    if (!kept?.running) this.opts.log({ kind: "service-started", user, project, service: s.name, container: s.containerName, ms: this.now() - t0 });
  }

  private async ensureNetwork(net: ServicesNetworkSpec): Promise<void> {
    if (!this.opts.subnets.known) await this.opts.learn();
    for (let attempt = 1; ; attempt++) {
      const subnet = this.opts.subnets.reserve(net.name);
      if (!subnet) throw nodeFull(this.opts.environments(), "address-pool");
      try {
        const created = await this.opts.runtime.ensureNetwork({ ...net, subnet });
        this.opts.subnets.confirm(net.name);
        if (created) this.opts.log({ kind: "network-created", network: net.name, subnet: formatCidr(subnet) });
        return;
      } catch (err) {
        this.opts.subnets.abandon(net.name);
        if (!(err instanceof SubnetTaken) || attempt >= 3) throw err;
        await this.opts.learn();
      }
    }
  }

  /** Every service with a readiness check accepts a TCP connection on its port, or the login fails. */
  async waitReady(plan: EnvironmentPlan, user: string, project: string): Promise<void> {
    const net = plan.servicesNetwork;
    if (!net) return;
    await Promise.all(plan.services.filter((s) => s.ready !== null).map((s) => this.waitOne(s, net.name, user, project)));
  }

  private async waitOne(s: ServicePlan, network: string, user: string, project: string): Promise<void> {
    const ready = s.ready;
    if (!ready) return;
    const t0 = this.now();
    const deadline = t0 + ready.timeoutMs;
    let last = "no address yet";
    for (;;) {
      const c = await this.opts.runtime.inspectByName(s.containerName);
      if (!c?.running) throw new UserFacingError("service-failed", `the ${s.name} service of your ${project} environment stopped while starting`, `container ${s.containerName} is ${c ? "not running" : "gone"}; its log: docker logs ${s.containerName}`);
      const address = await this.opts.runtime.containerAddress(c.id, network);
      if (address !== null) {
        const connected = await this.opts.dial(address, ready.port, Math.min(READY_DIAL_MS, Math.max(1, deadline - this.now()))).then(
          (socket) => (socket.destroy(), true),
          (err: unknown) => ((last = err instanceof Error ? err.message : String(err)), false),
        );
        if (connected) {
          this.opts.log({ kind: "service-ready", user, project, service: s.name, ms: this.now() - t0 });
          return;
        }
      }
      if (this.now() + READY_RETRY_MS > deadline) {
        throw new UserFacingError("service-not-ready", `the ${s.name} service of your ${project} environment did not accept connections on port ${ready.port} within ${formatDurationMs(ready.timeoutMs)}`, `${s.containerName}: ${last}`);
      }
      await new Promise((r) => setTimeout(r, READY_RETRY_MS));
    }
  }

  /**
   * Remove the services of (user, project): containers, their transient volumes, and the network
   * unless a container is still attached to it (then it stays, logged, for a later removal).
   */
  async down(user: string, project: string, reason: string): Promise<number> {
    const mine = (await this.opts.runtime.listManaged(this.opts.instance)).filter((c) => isServiceOf(c, user, project));
    for (const c of mine) await this.removeOne(c, user, project, reason);
    await this.removeNetwork(user, project, reason);
    return mine.length;
  }

  /** Whether (user, project) has a services network on the engine, as far as the daemon knows (no engine call). */
  hasNetwork(user: string, project: string): boolean {
    return this.opts.subnets.has(servicesNetworkName(this.opts.instance, user, project));
  }

  /** The projects of `user` with a services network on the engine, by its labels. */
  async networkProjects(user: string): Promise<string[]> {
    const nets = await this.opts.runtime.listNetworks(this.opts.instance);
    return nets.filter((n) => isServicesNetworkOf(n, user)).map((n) => n.labels[LABEL.project] ?? "");
  }

  /** Every (user, project) with a services network, by its labels: for the sweep after a restart. */
  async networkOwners(): Promise<{ user: string; project: string }[]> {
    const nets = await this.opts.runtime.listNetworks(this.opts.instance);
    return nets.filter((n) => isServicesNetworkOf(n, null)).map((n) => ({ user: n.labels[LABEL.user] ?? "", project: n.labels[LABEL.project] ?? "" }));
  }

  private async removeNetwork(user: string, project: string, reason: string): Promise<void> {
    const net = servicesNetworkName(this.opts.instance, user, project);
    try {
      await this.opts.runtime.removeNetwork(net);
    } catch (err) {
      if (!(err instanceof NetworkInUse)) throw err;
      this.opts.log({ kind: "error", code: "network-remove", message: `kept network ${net}: containers are still attached to it`, detail: err.message });
      return;
    }
    if (this.opts.subnets.has(net)) this.opts.log({ kind: "network-removed", network: net, reason });
    this.opts.subnets.release(net);
  }

  private async removeOne(c: ManagedContainer, user: string, project: string, reason: string): Promise<void> {
    await this.opts.runtime.remove(c.id);
    this.opts.log({ kind: "service-removed", user, project, container: c.name, reason });
    // Only this environment's own volumes, whatever a label says.
    const prefix = `${this.opts.instance}.${user}.${project}.`;
    for (const v of transientVolumesOf(c.labels).filter((n) => n.startsWith(prefix))) {
      await this.opts.runtime.removeVolume(v);
      this.opts.log({ kind: "volume-removed", user, volume: v });
    }
  }
}
