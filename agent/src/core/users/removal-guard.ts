/**
 * A users file that would remove most of a node's users at once is far more often a mistake (an
 * emptied file, a broken merge, a renamed registry directory) than a decision, and removing a user
 * ends their sessions and deletes their homes. `sync` refuses it unless told otherwise.
 */

/** @default share for `sync --max-removal-share` */
export const DEFAULT_MAX_REMOVAL_SHARE = 0.5;

/** Why this removal needs `--allow-mass-removal`, or null when it may go ahead. */
export function massRemovalRefusal(current: number, removing: number, maxShare: number): string | null {
  if (removing === 0) return null;
  if (removing >= current) return `it would remove all ${current} pod user(s) of this node`;
  // One user at a time is always fine, whatever the share: small fleets must be able to offboard.
  if (removing > 1 && removing / current > maxShare) return `it would remove ${removing} of ${current} pod users (more than ${Math.round(maxShare * 100)} %)`;
  return null;
}
