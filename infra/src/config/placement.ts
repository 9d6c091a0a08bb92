import { rendezvousScore } from "../../../agent/src/core/fleet/rendezvous.js";
import { InputError } from "../../../agent/src/core/errors.js";

/**
 * Which subnet a node lives in. Instances cannot move between subnets without being replaced, so
 * the choice must not depend on the other nodes (the old `index % subnets` moved every later node
 * when one was removed). A pinned `subnet` wins; otherwise rendezvous hashing over the subnets'
 * stable keys picks one from the node's name alone: removing or adding a node moves nothing else,
 * and adding a subnet moves only the nodes the new subnet wins (pin those first to avoid it).
 */
export function subnetIndexFor(node: string, subnetKeys: readonly string[], pinned?: number): number {
  if (subnetKeys.length === 0) throw new InputError("network", "has no subnets");
  if (pinned !== undefined) {
    if (!Number.isInteger(pinned) || pinned < 0 || pinned >= subnetKeys.length) {
      throw new InputError(`nodes.${node}.subnet`, `${pinned} is out of range`, `0-${subnetKeys.length - 1} (the network has ${subnetKeys.length} subnets)`);
    }
    return pinned;
  }
  let best = 0;
  let bestScore = -1n;
  subnetKeys.forEach((key, i) => {
    const score = rendezvousScore("subnet", node, key);
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  });
  return best;
}
