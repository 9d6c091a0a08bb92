import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "../../scripts/local-node.js";
import type { NodeHandle } from "./harness.js";

/**
 * 256 KiB of random bytes to a project's home with scp and back: equal only if nothing but the
 * session's bytes crossed stdout (hooks and our lines go to stderr).
 */
export async function assertScpRoundTrip(node: NodeHandle, user: string, project: string, dir: string): Promise<void> {
  const local = join(dir, "blob");
  const back = join(dir, "blob.back");
  await writeFile(local, randomBytes(256 * 1024));
  const args = node.sshArgs(user);
  const port = args.indexOf("-p");
  const opts = [...args.filter((_, i) => i !== port && i !== port + 1), "-P", args[port + 1] ?? "", "-o", `SetEnv=PODSPAWN_PROJECT=${project}`];
  for (const [from, to] of [[local, `${user}@127.0.0.1:blob`], [`${user}@127.0.0.1:blob`, back]] as const) {
    const r = await runCommand("scp", [...opts, from, to], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `scp ${from} ${to}: ${r.stderr}`);
  }
  assert.deepEqual(await readFile(back), await readFile(local));
}
