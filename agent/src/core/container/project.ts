import { InputError } from "../errors.js";

/** Project names end up in container names, labels and DNS labels: keep them DNS-safe. */
export const PROJECT_PATTERN = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
export const DEFAULT_PROJECT = "default";
const ALLOWED = "1-40 chars of lowercase letters, digits and '-', not starting or ending with '-'";

export function validateProject(value: unknown, field = "project"): string {
  if (typeof value !== "string") throw new InputError(field, `expected a string, got ${typeof value}`, ALLOWED);
  if (!PROJECT_PATTERN.test(value)) throw new InputError(field, `${JSON.stringify(value)} is not a valid project name`, ALLOWED);
  return value;
}
