import { InputError } from "../../../agent/src/core/errors.js";
import type { AwsTarget, LocalTarget } from "./types.js";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

function label(field: string, value: string): void {
  if (!LABEL.test(value)) throw new InputError(field, `${JSON.stringify(value)} is not a DNS label`, "1-32 lowercase letters, digits, '-'");
}

/** Checks what the types cannot say; constructs check their own props on top of this. */
export function validateAwsTarget(env: AwsTarget): void {
  label("environment", env.environment);
  label("fleet", env.fleet);
  if (env.nodes.length === 0) throw new InputError("nodes", "is empty", "at least one node");
  const seen = new Set<string>();
  env.nodes.forEach((n, i) => {
    label(`nodes[${i}].name`, n.name);
    if (seen.has(n.name)) throw new InputError(`nodes[${i}].name`, `${JSON.stringify(n.name)} appears twice`);
    seen.add(n.name);
  });
  const interval = env.syncIntervalSeconds ?? 300;
  if (!Number.isInteger(interval) || interval < 10) throw new InputError("syncIntervalSeconds", `${interval} is too small`, ">= 10");
}

export function validateLocalTarget(env: LocalTarget): void {
  label("environment", env.environment);
  label("fleet", env.fleet);
  const count = env.nodeCount ?? 2;
  if (!Number.isInteger(count) || count < 1 || count > 16) throw new InputError("nodeCount", `${count} is out of range`, "1-16");
  const base = env.basePort ?? 2201;
  if (!Number.isInteger(base) || base < 1024 || base + count > 65535) throw new InputError("basePort", `${base} is out of range`, "1024-65535 minus the node count");
}
