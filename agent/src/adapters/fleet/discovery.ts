import { promises as dns } from "node:dns";
import { UserFacingError } from "../../core/errors.js";
import { discoveryName, parseDiscoveryRecords, type DiscoveredFleet } from "../../core/fleet/discovery-record.js";

export type ResolveTxt = (name: string) => Promise<string[][]>;

export const DISCOVERY_TIMEOUT_MS = 5000;

/** The system resolver, with one attempt per server and a deadline (c-ares retries a lot by default). */
export function systemResolveTxt(timeoutMs = DISCOVERY_TIMEOUT_MS): ResolveTxt {
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 1 });
  return (name) => resolver.resolveTxt(name);
}

/** `_podspawn.<domain>` TXT -> the fleet's manifest URL; lookup failures are one line naming the name. */
export async function discoverFleet(domain: string, resolveTxt: ResolveTxt): Promise<DiscoveredFleet> {
  const name = discoveryName(domain);
  let records: string[][];
  try {
    records = await resolveTxt(name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UserFacingError("discovery-failed", `cannot discover a fleet at ${domain}: looking up TXT ${name} failed (${code})`);
  }
  return parseDiscoveryRecords(records, name);
}
