import { createHash } from "node:crypto";

/**
 * Highest-random-weight (rendezvous) hashing: every node gets a score for a key, and the key's
 * preference order is the nodes by descending score. Each (key, node) score is independent of the
 * other nodes, so adding a node moves exactly the keys the new node now wins (~1/(n+1) of them) and
 * removing one moves only the keys it held; the rest of the order is the failover order, stable for
 * as long as the node set is. Node names are the hash input, so renaming a node moves its keys.
 */

/** The score of `node` for (user, project): the first 64 bits of sha256(user NUL project NUL node). */
export function rendezvousScore(user: string, project: string, node: string): bigint {
  return createHash("sha256").update(`${user}\0${project}\0${node}`).digest().readBigUInt64BE(0);
}

/**
 * All `nodes`, best first for (user, project). Ties (a 2^-64 event) are broken by name so the
 * order is a total function of the inputs, not of the manifest's listing order.
 */
export function rankNodes<N extends { readonly name: string }>(user: string, project: string, nodes: readonly N[]): N[] {
  return nodes
    .map((node) => ({ node, score: rendezvousScore(user, project, node.name) }))
    .sort((a, b) => (a.score === b.score ? (a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0) : a.score > b.score ? -1 : 1))
    .map((s) => s.node);
}
