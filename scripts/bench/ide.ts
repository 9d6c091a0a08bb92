/**
 * The IDE mode against the plain session, in the same run, rounds interleaved (order rotated
 * each round) so machine noise hits both alike:
 *
 * - login:      `ssh bench-user@node true` (plain) vs `ssh -F cfg bench-user@ide true` (inner sshd
 *               through the plain session as ProxyCommand: two SSH handshakes, two key checks,
 *               the daemon writing the inner files and sshd -i starting in the container)
 * - download:   `head -c SIZE /dev/zero` through each, to a file
 * - upload:     `cat > /dev/null` of a SIZE file on tmpfs through each
 *
 * The container is warm (running) for both: the cold start is the login section's subject.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runPodspawn } from "../local-node.js";
import { BENCH_USER, FILE_PORT, INSTANCE, type BenchNode } from "../bench-node.js";
import { f1, f2, median, stats, type Stats } from "./stats.js";

export interface IdeOptions {
  readonly sizeMiB: number;
  readonly runs: number;
}

export interface IdeReport {
  readonly sizeMiB: number;
  readonly runs: number;
  readonly variants: Record<string, Stats>;
  /** inner / plain, by median wall time. */
  readonly ratios: { readonly login: number; readonly down: number; readonly up: number };
}

const UPLOAD_FILE = "/dev/shm/podspawn-bench-ide-upload";
const ENV: NodeJS.ProcessEnv = { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: process.env["HOME"] ?? "/root", LANG: "C.UTF-8" };

async function innerConfig(node: BenchNode): Promise<string> {
  const ca = await runPodspawn(INSTANCE, ["host-ca", "--known-hosts"]);
  if (ca.code !== 0) throw new Error(`podspawn host-ca failed: ${ca.stderr}`);
  const kh = join(node.clientDir, "ide_known_hosts");
  await writeFile(kh, ca.stdout);
  const outer = node.sshArgs(FILE_PORT, node.keys.bench).join(" ");
  const file = join(node.clientDir, "ide_config");
  await writeFile(
    file,
    [
      "Host ide",
      `  ProxyCommand ssh ${outer} -T ${BENCH_USER}@127.0.0.1 podspawn-sshd`,
      `  IdentityFile ${node.keys.bench}`,
      "  IdentitiesOnly yes",
      "  HostKeyAlias podspawn-ide",
      `  UserKnownHostsFile ${kh}`,
      "  StrictHostKeyChecking yes",
      "  BatchMode yes",
      "  KexAlgorithms curve25519-sha256",
      "  LogLevel ERROR",
      "",
    ].join("\n"),
  );
  return file;
}

function timeSsh(args: readonly string[], stdinPath: string, stdoutPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const inFd = openSync(stdinPath, "r");
    const outFd = openSync(stdoutPath, "w");
    let stderr = "";
    const t0 = process.hrtime.bigint();
    const child = spawn("ssh", args, { stdio: [inFd, outFd, "pipe"], env: ENV });
    closeSync(inFd);
    closeSync(outFd);
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0 || stderr !== "") reject(new Error(`ssh ${args.slice(-2).join(" ")} exited ${code}: ${stderr.trim().slice(0, 300)}`));
      else resolve(ms);
    });
  });
}

export async function measureIde(node: BenchNode, o: IdeOptions, log: (line: string) => void): Promise<IdeReport> {
  const cfg = await innerConfig(node);
  const bytes = o.sizeMiB * 1024 * 1024;
  await writeFile(UPLOAD_FILE, Buffer.alloc(bytes, 0x61));
  const plain = (cmd: string): string[] => [...node.sshArgs(FILE_PORT, node.keys.bench), `${BENCH_USER}@127.0.0.1`, cmd];
  const inner = (cmd: string): string[] => ["-F", cfg, `${BENCH_USER}@ide`, cmd];
  const cases: Record<string, { args: string[]; stdin: string }> = {
    "login plain": { args: plain("true"), stdin: "/dev/null" },
    "login inner": { args: inner("true"), stdin: "/dev/null" },
    "down plain": { args: plain(`head -c ${bytes} /dev/zero`), stdin: "/dev/null" },
    "down inner": { args: inner(`head -c ${bytes} /dev/zero`), stdin: "/dev/null" },
    "up plain": { args: plain("cat > /dev/null"), stdin: UPLOAD_FILE },
    "up inner": { args: inner("cat > /dev/null"), stdin: UPLOAD_FILE },
  };
  const ids = Object.keys(cases);
  const samples = new Map<string, number[]>(ids.map((id) => [id, []]));
  try {
    for (const id of ids) await timeSsh(cases[id]!.args, cases[id]!.stdin, "/dev/null"); // warm-up: container, inner files
    for (let round = 0; round < o.runs; round++) {
      const order = [...ids.slice(round % ids.length), ...ids.slice(0, round % ids.length)];
      for (const id of order) samples.get(id)?.push(await timeSsh(cases[id]!.args, cases[id]!.stdin, "/dev/null"));
      log(`bench ide: round ${round + 1}/${o.runs}`);
    }
  } finally {
    await rm(UPLOAD_FILE, { force: true });
  }
  const variants = Object.fromEntries([...samples].map(([id, v]) => [id, stats(v)]));
  const ratio = (what: string): number => median(samples.get(`${what} inner`) ?? []) / median(samples.get(`${what} plain`) ?? []);
  return { sizeMiB: o.sizeMiB, runs: o.runs, variants, ratios: { login: ratio("login"), down: ratio("down"), up: ratio("up") } };
}

export function renderIde(r: IdeReport): string {
  const mibs = (id: string): string => (id.startsWith("login") ? "" : f1(r.sizeMiB / ((r.variants[id]?.median ?? 1) / 1000)));
  const rows = Object.entries(r.variants).map(([id, s]) => `| ${id} | ${f1(s.median)} | ${f1(s.p90)} | ${mibs(id)} |`);
  return [
    `IDE mode vs plain session (warm container, ${r.sizeMiB} MiB transfers, ${r.runs} interleaved rounds)`,
    "",
    "| what | median ms | p90 ms | MiB/s (wall) |",
    "|---|---|---|---|",
    ...rows,
    "",
    `inner / plain (median wall): login ${f2(r.ratios.login)}, download ${f2(r.ratios.down)}, upload ${f2(r.ratios.up)}`,
    "",
  ].join("\n");
}
