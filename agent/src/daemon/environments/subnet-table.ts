import { freeSubnets, nextFreeSubnet, poolCapacity, type SubnetPool } from "../../core/container/subnet-pool.js";
import { contains, type Cidr } from "../../core/net/cidr.js";
import type { EngineNetwork } from "../../core/ports/container-runtime.js";

/**
 * Which address blocks are taken on the engine: our user networks by name, and every other
 * network's blocks (other programs, other podspawn instances on the same engine), which ours
 * must never overlap. Learned from the engine at start (and again whenever the engine refuses a
 * block as taken); reservations made since stay until their create succeeds or fails.
 */
export class SubnetTable {
  private readonly ours = new Map<string, Cidr>();
  /** Reserved for a network being created, not yet seen on the engine. */
  private readonly pending = new Set<string>();
  private others: readonly Cidr[] = [];
  private learned = false;

  constructor(
    private readonly instance: string,
    private readonly pool: () => SubnetPool,
  ) {}

  /** Whether the engine's view has been read at least once. */
  get known(): boolean {
    return this.learned;
  }

  /** Take the engine's list as the truth for everything but reservations in flight. */
  learn(networks: readonly EngineNetwork[]): void {
    const inFlight = new Map<string, Cidr>();
    for (const name of this.pending) {
      const subnet = this.ours.get(name);
      if (subnet) inFlight.set(name, subnet);
    }
    this.ours.clear();
    const others: Cidr[] = [];
    for (const n of networks) {
      const first = n.subnets[0];
      if (n.instance === this.instance && first && !inFlight.has(n.name)) this.ours.set(n.name, first);
      others.push(...(n.instance === this.instance ? n.subnets.slice(1) : n.subnets));
    }
    for (const [name, subnet] of inFlight) this.ours.set(name, subnet);
    this.others = others;
    this.learned = true;
  }

  /**
   * The block of network `name`: the one it has, or the lowest free block of the pool, held for
   * it until `confirm` or `abandon`. Null when no block is free.
   */
  reserve(name: string): Cidr | null {
    const had = this.ours.get(name);
    if (had) return had;
    const next = nextFreeSubnet(this.pool(), this.used());
    if (!next) return null;
    this.ours.set(name, next);
    this.pending.add(name);
    return next;
  }

  /** The network exists on the engine now. */
  confirm(name: string): void {
    this.pending.delete(name);
  }

  /** Creating it failed: a fresh reservation goes back to the pool (a network that exists keeps its block). */
  abandon(name: string): void {
    if (this.pending.delete(name)) this.ours.delete(name);
  }

  /** Whether network `name` holds a block of the current pool (removing it would free one). */
  holdsPoolBlock(name: string): boolean {
    const subnet = this.ours.get(name);
    return subnet !== undefined && contains(this.pool().pool, subnet);
  }

  /** Whether network `name` is ours on the engine (learned, or created or being created since). */
  has(name: string): boolean {
    return this.ours.has(name);
  }

  /** The network was removed. */
  release(name: string): void {
    this.pending.delete(name);
    this.ours.delete(name);
  }

  /** Blocks of the pool in use (by anyone) and free, for the metrics. */
  usage(): { readonly used: number; readonly free: number } {
    const pool = this.pool();
    const free = freeSubnets(pool, this.used());
    return { used: poolCapacity(pool) - free, free };
  }

  private used(): Cidr[] {
    return [...this.ours.values(), ...this.others];
  }
}
