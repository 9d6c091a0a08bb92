import { InputError } from "../errors.js";
import { validateProject } from "../container/project.js";

/**
 * The `.pod` host names a user types (`ssh alice@work.pod`), as ssh hands them to
 * `podspawn connect` (`%h`). Two shapes are accepted, both under the manifest's `domain`:
 *
 *   <project>.<domain>           work.pod
 *   <project>.<fleet>.<domain>   work.dev.pod   (only when <fleet> is the manifest's fleet)
 *
 * The second form lets one client hold several fleets' configs without their names colliding; a
 * fleet label that is not the loaded manifest's is refused rather than routed to the wrong fleet.
 * DNS names are case-insensitive, so the name is lowercased first (ssh does the same before it
 * matches `Host` patterns); anything but letters, digits, '-' and '.' is refused before any other
 * check, so no shell or ssh_config metacharacter ever reaches a message, a path or a label.
 */
export interface PodName {
  /** The name as understood: lowercased. */
  readonly host: string;
  readonly project: string;
  /** True for the `<project>.<fleet>.<domain>` form. */
  readonly qualified: boolean;
}

export interface PodDomain {
  readonly domain: string;
  readonly fleet: string;
}

export const MAX_HOST_LENGTH = 253;
const HOST_CHARS = /^[a-z0-9.-]+$/;

function allowed(d: PodDomain): string {
  return `<project>.${d.domain} or <project>.${d.fleet}.${d.domain}, project: 1-40 lowercase letters, digits and '-'`;
}

/** Parses and validates `raw` as a pod host name of this fleet; throws an InputError naming it. */
export function parsePodName(raw: unknown, d: PodDomain, field = "HOST"): PodName {
  if (typeof raw !== "string") throw new InputError(field, `expected a string, got ${typeof raw}`, allowed(d));
  if (raw.length === 0) throw new InputError(field, "must not be empty", allowed(d));
  if (raw.length > MAX_HOST_LENGTH) throw new InputError(field, `is ${raw.length} characters long (at most ${MAX_HOST_LENGTH})`, allowed(d));
  const host = raw.toLowerCase();
  // JSON.stringify escapes control characters, so the message itself stays one safe line.
  const shown = JSON.stringify(raw);
  if (!HOST_CHARS.test(host)) throw new InputError(field, `${shown} contains characters a host name cannot have`, allowed(d));
  const suffix = `.${d.domain}`;
  if (!host.endsWith(suffix) || host.length === suffix.length) {
    throw new InputError(field, `${shown} is not a .${d.domain} name`, allowed(d));
  }
  const labels = host.slice(0, -suffix.length).split(".");
  if (labels.includes("")) throw new InputError(field, `${shown} has an empty label`, allowed(d));
  const [project, fleet, ...extra] = labels;
  if (project === undefined || extra.length > 0) throw new InputError(field, `${shown} has too many labels before .${d.domain}`, allowed(d));
  if (fleet !== undefined && fleet !== d.fleet) {
    throw new InputError(field, `${shown} names fleet ${JSON.stringify(fleet)}, but the manifest is for fleet ${JSON.stringify(d.fleet)}`, allowed(d));
  }
  try {
    validateProject(project, field);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(field, `${shown}: ${JSON.stringify(project)} is not a valid project name`, allowed(d));
    throw err;
  }
  return { host, project, qualified: fleet !== undefined };
}

/** The `Host` patterns that name `project` in fleet `d`: the short and the fleet-qualified form. */
export function podHostNames(project: string, d: PodDomain): [string, string] {
  return [`${project}.${d.domain}`, `${project}.${d.fleet}.${d.domain}`];
}
