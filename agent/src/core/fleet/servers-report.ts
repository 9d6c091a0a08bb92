import type { ManifestNode } from "./fleet-manifest.js";
import { rankNodes } from "./rendezvous.js";
import { textTable } from "../ops/text-table.js";

/** `podspawn servers`: each node's TCP health, and where a (user, project) would land. */

export type NodeHealth = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly error: string };

export interface ProbedNode {
  readonly node: ManifestNode;
  readonly health: NodeHealth;
}

export interface Placement {
  readonly user: string;
  readonly project: string;
  /** Every node, best first (rendezvous order). */
  readonly order: readonly string[];
  /** The first healthy node in that order, or null when none answers. */
  readonly lands: string | null;
}

/** Where `connect` would take (user, project) now: the first node in rendezvous order that answered. */
export function placement(user: string, project: string, probed: readonly ProbedNode[]): Placement {
  const ok = new Set(probed.filter((p) => p.health.ok).map((p) => p.node.name));
  const order = rankNodes(user, project, probed.map((p) => p.node)).map((n) => n.name);
  return { user, project, order, lands: order.find((n) => ok.has(n)) ?? null };
}

function healthText(h: NodeHealth): string {
  return h.ok ? `ok (${h.ms} ms)` : `unreachable: ${h.error}`;
}

function placementLine(p: Placement, domain: string): string {
  const who = `${p.user}@${p.project}.${domain}`;
  const [first, ...rest] = p.order;
  if (p.lands === null) return `${who}: no node answers (order ${p.order.join(", ")})\n`;
  if (p.lands === first) return `${who} -> ${p.lands} (first choice; then ${rest.join(", ") || "none"})\n`;
  return `${who} -> ${p.lands} (failover: ${p.order.slice(0, p.order.indexOf(p.lands)).join(", ")} did not answer)\n`;
}

export function renderServers(fleet: string, domain: string, probed: readonly ProbedNode[], where: Placement | null): string {
  const rows = probed.map((p) => [p.node.name, p.node.address, String(p.node.port), healthText(p.health)]);
  const head = `fleet ${fleet} (*.${domain}), ${probed.length} node(s)\n`;
  return head + textTable([["NODE", "ADDRESS", "PORT", "HEALTH"], ...rows]) + (where ? placementLine(where, domain) : "");
}
