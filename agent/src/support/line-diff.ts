import { createTwoFilesPatch, FILE_HEADERS_ONLY } from "diff";

/**
 * A unified diff for `--dry-run` output, `a/PATH` against `b/PATH` (`/dev/null` for a new file),
 * by jsdiff; empty when nothing changes.
 */
export function unifiedDiff(path: string, before: string | null, after: string, context = 3): string {
  if (before === after) return "";
  return createTwoFilesPatch(before === null ? "/dev/null" : `a${path}`, `b${path}`, before ?? "", after, undefined, undefined, { context, headerOptions: FILE_HEADERS_ONLY });
}
