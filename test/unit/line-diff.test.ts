import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { unifiedDiff } from "../../agent/src/support/line-diff.js";

/** Apply a diff produced by unifiedDiff to `before`: proves the hunks describe the change. */
function applyDiff(before: string, diff: string): string {
  const a = before === "" ? [] : before.replace(/\n$/, "").split("\n");
  const out: string[] = [];
  let pos = 0;
  const lines = diff.replace(/\n$/, "").split("\n").slice(2);
  for (const l of lines) {
    const h = /^@@ -(\d+),(\d+) /.exec(l);
    if (h) {
      const start = Number(h[2]) === 0 ? Number(h[1]) : Number(h[1]) - 1;
      while (pos < start) out.push(a[pos++] as string);
      continue;
    }
    if (l.startsWith(" ")) out.push(a[pos++] as string);
    else if (l.startsWith("-")) pos++;
    else if (l.startsWith("+")) out.push(l.slice(1));
  }
  while (pos < a.length) out.push(a[pos++] as string);
  return out.length ? out.join("\n") + "\n" : "";
}

describe("unifiedDiff", () => {
  it("is empty when nothing changes", () => {
    assert.equal(unifiedDiff("/f", "a\nb\n", "a\nb\n"), "");
  });

  it("shows a new file against /dev/null", () => {
    assert.equal(unifiedDiff("/etc/x.conf", null, "a\nb\n"), "--- /dev/null\n+++ b/etc/x.conf\n@@ -0,0 +1,2 @@\n+a\n+b\n");
  });

  it("shows a line added at the top with context", () => {
    assert.equal(unifiedDiff("/c", "p\nq\n", "new\np\nq\n"), "--- a/c\n+++ b/c\n@@ -1,2 +1,3 @@\n+new\n p\n q\n");
  });

  it("produces hunks that turn before into after (property)", () => {
    const text = fc.array(fc.constantFrom("a", "b", "c", "d"), { maxLength: 30 }).map((xs) => (xs.length ? xs.join("\n") + "\n" : ""));
    fc.assert(
      fc.property(text, text, (before, after) => {
        const diff = unifiedDiff("/f", before, after);
        assert.equal(diff === "" ? before : applyDiff(before, diff), after);
      }),
    );
  });

  it("is a patch GNU patch applies, missing final newlines included", () => {
    const dir = mkdtempSync(join(tmpdir(), "pst-diff-"));
    try {
      const cases: [string, string][] = [
        ["Port 22\nMatch User x\n    X11Forwarding yes\n", "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\nSubsystem sftp internal-sftp\nMatch User x\n    X11Forwarding yes\n"],
        ["a\nb", "a\nc\n"],
        ["x\n", "x\ny"],
      ];
      for (const [before, after] of cases) {
        const target = join(dir, "sshd_config");
        writeFileSync(target, before);
        execFileSync("patch", ["-s", target], { input: unifiedDiff("/etc/ssh/sshd_config", before, after) });
        assert.equal(readFileSync(target, "utf8"), after, JSON.stringify(before));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
