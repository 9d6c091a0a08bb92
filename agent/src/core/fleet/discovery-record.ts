import { InputError } from "../errors.js";

/**
 * Fleet discovery through DNS: the infra stacks publish `_podspawn.<domain>` TXT
 * `v=podspawn1 fleet=<label> manifest=<https URL>` (infra/src/constructs/dns.ts), and
 * `client-setup --discover <domain>` turns that into the manifest's URL. Pure: the records come in
 * as the resolver returns them (each record a list of strings of at most 255 bytes).
 */

const DOMAIN = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface DiscoveredFleet {
  readonly fleet: string | null;
  readonly manifestUrl: string;
}

/** The TXT name for a domain the user typed; refuses anything that is not a plain DNS name. */
export function discoveryName(domain: string, field = "--discover"): string {
  const d = domain.toLowerCase().replace(/\.$/, "");
  if (d.length > 240 || !DOMAIN.test(d)) throw new InputError(field, `${JSON.stringify(domain)} is not a DNS name`, "a domain such as fleet.example.com");
  return `_podspawn.${d}`;
}

/** The one `v=podspawn1` record among `records`; its manifest must be an https URL. */
export function parseDiscoveryRecords(records: readonly (readonly string[])[], name: string): DiscoveredFleet {
  const ours = records.map((chunks) => chunks.join("")).filter((r) => r.split(/\s+/).includes("v=podspawn1"));
  if (ours.length === 0) throw new InputError(name, "has no v=podspawn1 TXT record", "the record the fleet's DNS stack publishes: v=podspawn1 fleet=NAME manifest=https://...");
  if (ours.length > 1) throw new InputError(name, `has ${ours.length} v=podspawn1 TXT records`, "exactly one");
  const fields = new Map<string, string>();
  for (const word of (ours[0] as string).split(/\s+/)) {
    const eq = word.indexOf("=");
    if (eq > 0) fields.set(word.slice(0, eq), word.slice(eq + 1));
  }
  const manifest = fields.get("manifest");
  if (!manifest) throw new InputError(name, "its v=podspawn1 record names no manifest", "manifest=https://...");
  let url: URL;
  try {
    url = new URL(manifest);
  } catch {
    throw new InputError(name, `its manifest ${JSON.stringify(manifest)} is not a URL`, "manifest=https://...");
  }
  // DNS answers are not authenticated: only a URL whose TLS the client checks may be trusted.
  if (url.protocol !== "https:") throw new InputError(name, `its manifest ${JSON.stringify(manifest)} is not https`, "manifest=https://...");
  return { fleet: fields.get("fleet") ?? null, manifestUrl: url.href };
}
