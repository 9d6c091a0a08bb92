/**
 * Paths inside the container that a Podfile names. They never touch the host, but they end up
 * as argv of git and as the daemon's archive targets, so they are plain: no NUL, no newline, no
 * backslash, no `..` segment, no empty segment, no leading '-'.
 */
const SEGMENT = /^[A-Za-z0-9_.+@=,-]+$/;
const MAX = 1024;

function plainSegments(segments: readonly string[]): boolean {
  return segments.every((s) => s !== ".." && s !== "." && SEGMENT.test(s));
}

/** `/bin/bash`, `/var/lib/postgresql/data`: absolute, at least one segment. */
export function isAbsoluteContainerPath(value: string): boolean {
  if (value.length > MAX || !value.startsWith("/") || value === "/") return false;
  return plainSegments(value.slice(1).replace(/\/$/, "").split("/"));
}

/** `src/app`: relative (to the user's home or the workspace), never leaving it. */
export function isRelativeContainerPath(value: string): boolean {
  if (value.length > MAX || value === "" || value.startsWith("/") || value.startsWith("-")) return false;
  return plainSegments(value.replace(/\/$/, "").split("/"));
}

export const ABSOLUTE_PATH_ALLOWED = "an absolute path such as /bin/bash: letters, digits and ._+@=,- in each segment, no '..'";
export const RELATIVE_PATH_ALLOWED = "a relative path such as src/app: no leading '/', no '..', letters, digits and ._+@=,- in each segment";
