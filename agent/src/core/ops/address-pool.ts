/**
 * Room for more per-user bridge networks. The daemon reports its own subnet pool when it has one;
 * otherwise networks come from Docker's default address pools (or daemon.json's
 * `default-address-pools`), and every bridge network on the engine takes one subnet of them.
 */

export interface PoolUsage {
  readonly used: number;
  readonly free: number;
  /** Where the figures come from, for the detail line. */
  readonly source: string;
}

/** Docker's built-in pools: 172.17-31.0.0/16 (15 x /16) and 192.168.0.0/16 in /20s (16). */
export const DOCKER_DEFAULT_POOL_NETWORKS = 31;

/** Fewer free networks than this and the next logins of new users may fail. */
export const MIN_FREE_NETWORKS = 5;

export interface AddressPoolSpec {
  readonly base: string;
  readonly size: number;
}

/** How many subnets daemon.json's `default-address-pools` give; null if a pool is malformed. */
export function configuredPoolNetworks(pools: readonly AddressPoolSpec[]): number | null {
  let total = 0;
  for (const p of pools) {
    const prefix = Number(/\/(\d{1,2})$/.exec(p.base)?.[1]);
    if (!Number.isInteger(prefix) || !Number.isInteger(p.size) || p.size < prefix || p.size > 32 || prefix < 0) return null;
    total += 2 ** (p.size - prefix);
  }
  return total;
}

/** Usage of Docker's pools by the engine's bridge networks (each takes one subnet). */
export function enginePoolUsage(bridgeNetworks: number, poolNetworks: number, source: string): PoolUsage {
  return { used: bridgeNetworks, free: Math.max(0, poolNetworks - bridgeNetworks), source };
}

export function poolHasHeadroom(u: PoolUsage): boolean {
  return u.free >= MIN_FREE_NETWORKS;
}
