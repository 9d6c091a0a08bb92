import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NodeHandle } from "./harness.js";

/** What one streamed ssh run gave: its status, the sha256 and size of its stdout, its stderr. */
export interface Streamed {
  readonly code: number | null;
  readonly sha: string;
  readonly bytes: number;
  readonly stderr: Buffer;
}

/** ssh as `user` with stdin from a file (or nothing) and stdout hashed as it streams: no 64 MiB strings. */
export function sshStream(node: NodeHandle, user: string, args: readonly string[], stdinFile?: string): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", [...node.sshArgs(user), `${user}@127.0.0.1`, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    const hash = createHash("sha256");
    let bytes = 0;
    const stderr: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    child.stderr.on("data", (d: Buffer) => stderr.push(d));
    child.stdin.on("error", () => undefined);
    if (stdinFile) createReadStream(stdinFile).pipe(child.stdin);
    else child.stdin.end();
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, sha: hash.digest("hex"), bytes, stderr: Buffer.concat(stderr) }));
  });
}

/** Exit 0 and a byte-empty stderr: nothing of ours on the user's stream. */
export function assertClean(r: Streamed): void {
  assert.equal(r.stderr.length, 0, `stderr: ${JSON.stringify(r.stderr.toString("utf8").slice(0, 300))}`);
  assert.equal(r.code, 0);
}

/** A file of `mib` random MiB in `dir` to send up, and its sha256. */
export async function randomUpload(dir: string, mib: number): Promise<{ readonly path: string; readonly sha: string }> {
  const path = join(dir, `${mib}m.bin`);
  const data = randomBytes(mib * 1024 * 1024);
  await writeFile(path, data);
  return { path, sha: createHash("sha256").update(data).digest("hex") };
}
