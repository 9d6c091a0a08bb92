/**
 * The data path with real ssh, sshd, spawn, daemon and engine: bytes arrive intact in both
 * directions through every kind of session, and a client that reads slowly is held back all the
 * way to the process in the container instead of growing the daemon.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCommand } from "../../scripts/local-node.js";
import { eventually, layout, startNode, type NodeHandle } from "./harness.js";
import { assertClean, randomUpload, sshStream } from "./ssh-stream.js";

const USER = "e2e-data";
const MiB = 1024 * 1024;
const ECHO_PORT = 7080;
let node: NodeHandle;
let upload: string;
let uploadSha: string;

before(async () => {
  node = await startNode([USER]);
  ({ path: upload, sha: uploadSha } = await randomUpload(node.clientDir, 64));
});
after(async () => {
  await node?.stop();
});

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");


describe("64 MiB each way, byte for byte (sha256)", () => {
  it("through a command session: up into the container, and back down", async () => {
    const up = await sshStream(node, USER, ["cat > up.bin"], upload);
    assertClean(up);
    const inside = await node.ssh(USER, ["sha256sum < up.bin"]);
    assert.equal(inside.stdout.split(" ")[0], uploadSha, "what arrived in the container");
    const down = await sshStream(node, USER, ["cat up.bin"]);
    assertClean(down);
    assert.equal(down.bytes, 64 * MiB);
    assert.equal(down.sha, uploadSha, "what came back out");
  });

  it("through sftp: put, then get", async () => {
    const back = join(node.clientDir, "64m.back");
    const batch = join(node.clientDir, "batch64");
    await writeFile(batch, `put ${upload} sftp.bin\nget sftp.bin ${back}\n`);
    const r = await runCommand("sftp", [...node.sshArgs(USER).map((a) => (a === "-p" ? "-P" : a)), "-b", batch, `${USER}@127.0.0.1`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const inside = await node.ssh(USER, ["sha256sum sftp.bin"]);
    assert.equal(inside.stdout.split(" ")[0], uploadSha);
    assert.equal(sha256(await readFile(back)), uploadSha);
  });

  it("through a tunnel to an echo service in the container, both ways at once", async () => {
    const echo = `perl -MIO::Socket::INET -e '$SIG{CHLD}="IGNORE"; my $s=IO::Socket::INET->new(LocalPort=>${ECHO_PORT},Listen=>4,ReuseAddr=>1) or die $!; while (my $c=$s->accept) { if (fork) { close $c; next } my $b; while (sysread($c,$b,65536)) { syswrite($c,$b) } exit }'`;
    const started = await node.ssh(USER, [`setsid nohup ${echo} >/dev/null 2>&1 </dev/null &`]);
    assert.equal(started.code, 0, started.stderr);
    assert.ok(await eventually(async () => (await node.ssh(USER, ["podspawn-tunnel", String(ECHO_PORT)], { input: "probe" })).stdout === "probe", 15_000, 300), "the echo service answers");
    const r = await sshStream(node, USER, ["podspawn-tunnel", String(ECHO_PORT)], upload);
    assertClean(r);
    assert.equal(r.bytes, 64 * MiB);
    assert.equal(r.sha, uploadSha);
  });
});

// ---- a slow reader --------------------------------------------------------------------------

const LINE = Buffer.from("the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJ\n");
/** A window of the repeating output, long enough to compare any chunk at any offset in one go. */
const PATTERN = Buffer.concat(Array.from({ length: Math.ceil((256 * 1024) / LINE.length) + 1 }, () => LINE));

async function daemonRssKiB(): Promise<number> {
  const pid = Number((await readFile(layout.pidFile, "utf8")).trim());
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
}

interface SlowRead {
  readonly code: number | null;
  readonly bytes: number;
  readonly intact: boolean;
  readonly stderr: Buffer;
}

/**
 * `ssh ... 'yes LINE | head -c SIZE'` read by a client that reads nothing for `pauseMs`, then
 * at most `rate` bytes per second; every byte is checked against the repeating line.
 */
function slowRead(size: number, pauseMs: number, rate: number): Promise<SlowRead> {
  return new Promise((resolve, reject) => {
    const line = LINE.toString("latin1").trimEnd();
    const child = spawn("ssh", [...node.sshArgs(USER), `${USER}@127.0.0.1`, `yes '${line}' | head -c ${size}`], { stdio: ["ignore", "pipe", "pipe"] });
    let bytes = 0;
    let intact = true;
    const stderr: Buffer[] = [];
    const t0 = Date.now();
    const out = child.stdout;
    out.pause();
    setTimeout(() => out.resume(), pauseMs);
    out.on("data", (d: Buffer) => {
      const at = bytes % LINE.length;
      if (intact && !d.equals(PATTERN.subarray(at, at + d.length))) intact = false;
      bytes += d.length;
      const ahead = bytes / rate - (Date.now() - t0 - pauseMs) / 1000;
      if (ahead > 0.02) {
        out.pause();
        setTimeout(() => out.resume(), ahead * 1000);
      }
    });
    child.stderr.on("data", (d: Buffer) => stderr.push(d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, bytes, intact, stderr: Buffer.concat(stderr) }));
  });
}

describe("a client that reads slowly", () => {
  it("gets 1 GiB intact while the daemon grows by less than 128 MB, and its stderr stays byte-empty", async (t) => {
    await node.ssh(USER, ["true"]);
    const idle = await daemonRssKiB();
    let peak = idle;
    const sampler = setInterval(() => void daemonRssKiB().then((kib) => (peak = Math.max(peak, kib)), () => undefined), 100);
    let r: SlowRead;
    try {
      r = await slowRead(1024 * MiB, 4000, 160 * MiB);
    } finally {
      clearInterval(sampler);
    }
    assert.equal(r.stderr.length, 0, `stderr: ${JSON.stringify(r.stderr.toString("utf8").slice(0, 300))}`);
    assert.equal(r.code, 0);
    assert.equal(r.bytes, 1024 * MiB);
    assert.equal(r.intact, true, "every byte as the process wrote it, in order");
    const growth = (peak - idle) * 1024;
    t.diagnostic(`daemon RSS idle ${((idle * 1024) / 1e6).toFixed(1)} MB, peak ${((peak * 1024) / 1e6).toFixed(1)} MB`);
    assert.ok(growth <= 128e6, `the daemon grew by ${(growth / 1e6).toFixed(1)} MB (idle ${((idle * 1024) / 1e6).toFixed(1)} MB)`);
  });
});
