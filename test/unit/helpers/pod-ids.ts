import { podAccountId } from "../../../agent/src/core/container/account-plan.js";

/**
 * Host uids for the unit tests' users as a node would have them: one per user, handed out from
 * 1001 in the order users first log in, so each user's container id is its own.
 */
export function testPodIds(): (user: string) => number {
  const uids = new Map<string, number>();
  return (user) => {
    if (!uids.has(user)) uids.set(user, 1001 + uids.size);
    return podAccountId(uids.get(user) ?? 0);
  };
}
