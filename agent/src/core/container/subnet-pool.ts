import { blockSize, cidrEnd, type Cidr } from "../net/cidr.js";

/**
 * Where per-user networks get their addresses: the config's pool cut into blocks of one size.
 * Docker's own default pools hold about 30 bridge networks per engine, so the daemon hands out
 * the subnets itself. Pure: the daemon keeps the table of what is used (its own networks and
 * every other network on the engine) and asks here for the next block.
 */
export interface SubnetPool {
  readonly pool: Cidr;
  /** Prefix length of each user network (28: 16 addresses, 14 usable). */
  readonly subnetPrefix: number;
}

/** Half-open address intervals [start, end), sorted and merged. */
function merged(used: readonly Cidr[]): [number, number][] {
  const spans = used.map((c): [number, number] => [c.base, cidrEnd(c)]).sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [start, end] of spans) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** How many user networks the pool holds when nothing else uses it. */
export function poolCapacity(p: SubnetPool): number {
  return blockSize(p.pool.prefix) / blockSize(p.subnetPrefix);
}

/**
 * The lowest block of the pool that overlaps nothing in `used`, or null when every block
 * overlaps something. Deterministic, and the order of `used` does not matter.
 */
export function nextFreeSubnet(p: SubnetPool, used: readonly Cidr[]): Cidr | null {
  const size = blockSize(p.subnetPrefix);
  const poolEnd = cidrEnd(p.pool);
  let candidate = p.pool.base;
  for (const [start, end] of merged(used)) {
    if (candidate + size <= start || candidate + size > poolEnd) break;
    // Jump to the first block boundary at or after this span's end.
    if (end > candidate) candidate = p.pool.base + Math.ceil((end - p.pool.base) / size) * size;
  }
  return candidate + size <= poolEnd ? { base: candidate, prefix: p.subnetPrefix } : null;
}

/** Blocks of the pool that overlap nothing in `used` (for the metrics). */
export function freeSubnets(p: SubnetPool, used: readonly Cidr[]): number {
  const size = blockSize(p.subnetPrefix);
  const poolEnd = cidrEnd(p.pool);
  let taken = 0;
  let lastBlock = -1;
  for (const [start, end] of merged(used)) {
    const from = Math.max(start, p.pool.base);
    const to = Math.min(end, poolEnd);
    if (from >= to) continue;
    const first = Math.max(Math.floor((from - p.pool.base) / size), lastBlock + 1);
    const last = Math.floor((to - 1 - p.pool.base) / size);
    if (last >= first) taken += last - first + 1;
    lastBlock = Math.max(lastBlock, last);
  }
  return poolCapacity(p) - taken;
}
