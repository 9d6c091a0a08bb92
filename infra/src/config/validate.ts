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

/** IAM `name_prefix` is at most 38 characters (64 minus the 26 Terraform appends). */
export const IAM_NAME_PREFIX_LIMIT = 38;
export const nodeNamePrefix = (node: string): string => `podspawn-${node}-`;
export const MAX_NODE_NAME = IAM_NAME_PREFIX_LIMIT - nodeNamePrefix("").length;

const AMI = /^ami-[0-9a-f]{8,17}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

const nodeName = () =>
  label().superRefine((name, ctx) => {
    if (name.length > MAX_NODE_NAME) {
      refuse(ctx, `${JSON.stringify(name)} is ${name.length} characters; it becomes the IAM name prefix "${nodeNamePrefix(name)}", which AWS limits to ${IAM_NAME_PREFIX_LIMIT}`, { allowed: `at most ${MAX_NODE_NAME} characters` });
    }
  });

const ami = () => hint(z.string().regex(AMI), { what: "an AMI id", allowed: "ami- and 8-17 hex digits, pinned (no lookup at plan time)" });

const AWS_NODE = z.looseObject({
  name: nodeName(),
  subnet: hint(z.int().min(0), { allowed: "a subnet index from 0" }).optional(),
  amiId: ami().optional(),
  allowReplacement: z.boolean().optional(),
  drained: z.boolean().optional(),
  hostPublicKey: hint(z.string().regex(/^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/), { what: "a host public key", allowed: "'ssh-ed25519 <base64>' without a comment" }).optional(),
});

const AWS_TARGET = z
  .looseObject({
    environment: label(),
    fleet: label(),
    amiId: ami(),
    deployRoleArn: hint(z.string().regex(ROLE_ARN), { what: "an IAM role ARN", allowed: "arn:aws:iam::<12 digits>:role/<name>" }),
    hostKeys: hint(z.enum(["terraform", "external"]), { allowed: "terraform, external" }).optional(),
    maxReplacements: hint(z.int().min(1), { allowed: "a whole number from 1" }).optional(),
    nodes: hint(z.array(AWS_NODE).min(1), { allowed: "at least one node" }).superRefine((nodes, ctx) => {
      const seen = new Set<string>();
      nodes.forEach((n, i) => {
        if (seen.has(n.name)) refuse(ctx, `${JSON.stringify(n.name)} appears twice`, { allowed: "unique node names", path: [i, "name"] });
        seen.add(n.name);
      });
    }),
    syncIntervalSeconds: hint(z.int().min(10), { allowed: "a whole number of seconds, at least 10" }).optional(),
    agentPollSeconds: hint(z.int().min(10).max(86_400), { allowed: "10-86400 seconds" }).optional(),
    upgradeMaxWaitSeconds: hint(z.int().min(0).max(7 * 86_400), { allowed: "0-604800 seconds" }).optional(),
  })
  .superRefine((t, ctx) => {
    const unlocked = t.nodes.filter((n) => n.allowReplacement === true).map((n) => n.name);
    const max = t.maxReplacements ?? 1;
    if (unlocked.length > max) {
      refuse(ctx, `${unlocked.length} nodes allow replacement at once (${unlocked.join(", ")})`, { allowed: `at most ${max} (maxReplacements): replace nodes one at a time`, path: ["nodes"] });
    }
    if (t.hostKeys === "external") {
      t.nodes.forEach((n, i) => {
        if (n.hostPublicKey === undefined) refuse(ctx, "is missing", { allowed: "the node's host public key, required with hostKeys: external", path: ["nodes", i, "hostPublicKey"] });
      });
    }
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
