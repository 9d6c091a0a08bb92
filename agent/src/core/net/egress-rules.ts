import { formatCidr, overlaps, readCidr, type Cidr } from "./cidr.js";

/** One iptables rule of ours: the chain and the match/target arguments after it. */
export interface FirewallRule {
  /** @default filter */
  readonly table?: "mangle";
  readonly chain: "DOCKER-USER" | "INPUT" | "FORWARD";
  readonly spec: readonly string[];
}

export interface EgressPolicy {
  /** The pool user networks come from: every pod container's source address is in it. */
  readonly pool: Cidr;
  /** Also drop pod traffic to private ranges (RFC 1918, CGNAT, link-local): nodes in shared VPCs. */
  readonly blockPrivateRanges: boolean;
  /** The host's DNS resolvers (resolv.conf); those in a blocked range stay reachable on port 53. */
  readonly resolvers: readonly string[];
}

export const METADATA_ADDRESS = "169.254.169.254/32";
export const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"] as const;

/**
 * The rules a node needs before it may serve a session, in the order they must end up in their
 * chain (the adapter inserts them at the top, so it inserts this list back to front):
 * - the cloud metadata address, for every forwarded packet (the node role's credentials);
 * - new connections from pod containers to the host itself (its sshd, its daemons on the bridge
 *   gateway or any host address): DOCKER-USER only sees forwarded traffic, the host's own
 *   services are reached through INPUT. Replies to the daemon's own tunnel dials are ESTABLISHED.
 * - routed traffic from one pod network to another (user, pool and services networks are all in
 *   the pool), in mangle's FORWARD. Docker's own isolation (DOCKER-ISOLATION-STAGE-*) is off for
 *   a moment whenever the engine creates a network: engine 20.10 deletes and re-inserts its jump
 *   rules at the top of filter's FORWARD, and in that moment a container reached another user's
 *   (caught by e2e/pool: a user's container reached a pooled container's listener while the pool
 *   refilled). Docker never touches the mangle table, so this rule is never gone. Traffic inside
 *   one bridge (a container and its services) is bridged, not routed, and is not matched.
 * - optionally, private ranges, with the host's resolvers in them let through on port 53 first.
 */
export function egressRules(policy: EgressPolicy): FirewallRule[] {
  const pool = formatCidr(policy.pool);
  const rules: FirewallRule[] = [
    { chain: "DOCKER-USER", spec: ["-d", METADATA_ADDRESS, "-j", "DROP"] },
    { chain: "INPUT", spec: ["-s", pool, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"] },
    { table: "mangle", chain: "FORWARD", spec: ["-s", pool, "-d", pool, "-m", "physdev", "!", "--physdev-is-bridged", "-j", "DROP"] },
  ];
  if (!policy.blockPrivateRanges) return rules;
  const blocked = PRIVATE_RANGES.map((r) => readCidr(r)).flatMap((r) => (r.ok ? [r.value] : []));
  const resolvers = policy.resolvers.filter((ip) => {
    const c = readCidr(`${ip}/32`);
    return c.ok && blocked.some((b) => overlaps(b, c.value));
  });
  const dns = resolvers.flatMap((ip) =>
    (["udp", "tcp"] as const).map((proto): FirewallRule => ({ chain: "DOCKER-USER", spec: ["-s", pool, "-d", `${ip}/32`, "-p", proto, "--dport", "53", "-j", "RETURN"] })),
  );
  const drops = PRIVATE_RANGES.map((range): FirewallRule => ({ chain: "DOCKER-USER", spec: ["-s", pool, "-d", range, "-j", "DROP"] }));
  return [...dns, ...rules, ...drops];
}

/** Nameserver addresses from resolv.conf text (IPv4 only: the pool is IPv4). */
export function resolversOf(resolvConf: string): string[] {
  return resolvConf
    .split("\n")
    .map((l) => /^\s*nameserver\s+(\S+)\s*$/.exec(l)?.[1])
    .filter((ip): ip is string => ip !== undefined && readCidr(`${ip}/32`).ok);
}
