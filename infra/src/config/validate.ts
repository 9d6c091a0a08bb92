import * as z from "zod";
import { hint, refuse, validate } from "../../../agent/src/core/config/schema-kit.js";
import type { AwsTarget, LocalTarget } from "./types.js";

/**
 * What the deploy target types cannot say, as schemas over the typed objects (infra/src/targets.ts)
 * with the agent's schema kit, so they fail the same way a config file does: the field, what was
 * wrong, what is allowed. Loose objects: the TypeScript type already fixes the rest of the shape.
 * Constructs check their own props on top of this.
 */

// 32, not 63: names are joined into resource names with AWS length limits.
const LABEL = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const label = () => hint(z.string().regex(LABEL), { what: "a DNS label", allowed: "1-32 lowercase letters, digits, '-'" });

const AWS_TARGET = z.looseObject({
  environment: label(),
  fleet: label(),
  nodes: hint(z.array(z.looseObject({ name: label() })).min(1), { allowed: "at least one node" }).superRefine((nodes, ctx) => {
    const seen = new Set<string>();
    nodes.forEach((n, i) => {
      if (seen.has(n.name)) refuse(ctx, `${JSON.stringify(n.name)} appears twice`, { allowed: "unique node names", path: [i, "name"] });
      seen.add(n.name);
    });
  }),
  syncIntervalSeconds: hint(z.int().min(10), { allowed: "a whole number of seconds, at least 10" }).optional(),
});

const LOCAL_TARGET = z
  .looseObject({
    environment: label(),
    fleet: label(),
    nodeCount: hint(z.int().min(1).max(16), { allowed: "1-16" }).optional(),
    basePort: hint(z.int().min(1024).max(65535), { allowed: "1024-65535 minus the node count" }).optional(),
  })
  .superRefine((t, ctx) => {
    const base = t.basePort ?? 2201;
    const count = t.nodeCount ?? 2;
    if (base + count > 65535) refuse(ctx, `${base} leaves no room for ${count} nodes`, { allowed: "1024-65535 minus the node count", path: ["basePort"] });
  });

export function validateAwsTarget(env: AwsTarget): void {
  validate(AWS_TARGET, env);
}

export function validateLocalTarget(env: LocalTarget): void {
  validate(LOCAL_TARGET, env);
}
