/**
 * A small unified-style diff for `--dry-run` output. Config files are a few hundred lines at most,
 * so a plain LCS table is fast enough and keeps this dependency-free.
 */
export function unifiedDiff(path: string, before: string | null, after: string, context = 3): string {
  if (before === after) return "";
  const a = before === null ? [] : splitLines(before);
  const b = splitLines(after);
  const ops = diffOps(a, b);
  const header = [`--- ${before === null ? "/dev/null" : `a${path}`}`, `+++ b${path}`];
  const hunks: string[] = [];
  let i = 0;
  while (i < ops.length) {
    if ((ops[i] as Op).kind === " ") {
      i++;
      continue;
    }
    // Grow a hunk from this change, merging changes closer than 2*context lines.
    let start = i;
    let end = i;
    for (let j = i; j < ops.length; j++) {
      if ((ops[j] as Op).kind !== " ") end = j;
      else if (j - end > 2 * context) break;
    }
    start = Math.max(0, start - context);
    const stop = Math.min(ops.length, end + context + 1);
    const slice = ops.slice(start, stop);
    const first = slice[0] as Op;
    const aCount = slice.filter((o) => o.kind !== "+").length;
    const bCount = slice.filter((o) => o.kind !== "-").length;
    hunks.push(`@@ -${aCount === 0 ? first.aLine : first.aLine + 1},${aCount} +${bCount === 0 ? first.bLine : first.bLine + 1},${bCount} @@`);
    for (const o of slice) hunks.push(o.kind + o.text);
    i = stop;
  }
  return [...header, ...hunks].join("\n") + "\n";
}

interface Op {
  readonly kind: " " | "-" | "+";
  readonly text: string;
  /** 0-based line index in a and b where this op sits. */
  readonly aLine: number;
  readonly bLine: number;
}

function splitLines(text: string): string[] {
  const rows = text.split("\n");
  if (rows[rows.length - 1] === "") rows.pop();
  return rows;
}

function diffOps(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] as number[];
    const below = lcs[i + 1] as number[];
    for (let j = m - 1; j >= 0; j--) {
      row[j] = a[i] === b[j] ? (below[j + 1] as number) + 1 : Math.max(below[j] as number, row[j + 1] as number);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: " ", text: a[i] as string, aLine: i, bLine: j });
      i++;
      j++;
    } else if (j < m && (i === n || (lcs[i]?.[j + 1] as number) >= (lcs[i + 1]?.[j] as number))) {
      ops.push({ kind: "+", text: b[j] as string, aLine: i, bLine: j });
      j++;
    } else {
      ops.push({ kind: "-", text: a[i] as string, aLine: i, bLine: j });
      i++;
    }
  }
  return ops;
}
