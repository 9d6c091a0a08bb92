/**
 * Shared set-up for the admin real-system tests: they run as root against throwaway instances
 * (`podspawn-admN`) and throwaway accounts (`pst-*`), and remove everything they made.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { main } from "../../agent/src/cli/main.js";
import type { Layout } from "../../agent/src/core/host/layout.js";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** Root-only tests fail loudly instead of skipping. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("this real-system test must run as root (it creates accounts and root-owned files)");
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function cli(layout: Layout, ...argv: string[]): Promise<CliResult> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on("data", (c: Buffer) => o.push(c));
  err.on("data", (c: Buffer) => e.push(c));
  const code = await main(argv, { stdout: out, stderr: err, layout, env: { PODSPAWN_INSTANCE: layout.instance } });
  return { code, stdout: Buffer.concat(o).toString("utf8"), stderr: Buffer.concat(e).toString("utf8") };
}

/**
 * A bundle dir for `install`: the real auth-keys bundle built from source, and stand-ins for spawn
 * and the full CLI that report how they were called (the lead's spawn is tested elsewhere).
 */
export async function makeBundleDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "pst-bundle-"));
  await build({
    entryPoints: [join(REPO, "agent/src/bin/auth-keys.ts")],
    outfile: join(dir, "auth-keys.cjs"),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    logLevel: "error",
  });
  const report = (what: string): string =>
    `process.stdout.write(${JSON.stringify(what)} + " " + JSON.stringify({ argv: process.argv.slice(2), instance: process.env.PODSPAWN_INSTANCE, cmd: process.env.SSH_ORIGINAL_COMMAND ?? null, user: require("os").userInfo().username }) + "\\n");\n`;
  writeFileSync(join(dir, "spawn.cjs"), report("SPAWN"));
  writeFileSync(join(dir, "podspawn.cjs"), report("PODSPAWN"));
  return dir;
}

export function userExists(name: string): boolean {
  return spawnSync("getent", ["passwd", name]).status === 0;
}

export function deleteAccount(name: string): void {
  if (userExists(name)) execFileSync("userdel", [name]);
  if (spawnSync("getent", ["group", name]).status === 0) execFileSync("groupdel", [name]);
}

/** Remove an instance's files and the listed accounts. The shared group and keys user stay. */
export function cleanupInstance(layout: Layout, accounts: readonly string[]): void {
  for (const a of accounts) deleteAccount(a);
  for (const dir of [layout.libDir, layout.etcDir, layout.stateDir, layout.runDir]) rmSync(dir, { recursive: true, force: true });
}

export function sshKeygen(path: string, comment = "pst"): string {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return execFileSync("cat", [`${path}.pub`], { encoding: "utf8" }).trim();
}

/** A private sshd config in a temp dir (never the system's), with its own host key. */
export interface SshdSandbox {
  readonly dir: string;
  readonly config: string;
  readonly pidFile: string;
  readonly log: string;
  readonly port: number;
  readonly knownHosts: string;
}

export function makeSshdSandbox(port: number, extra = ""): SshdSandbox {
  const dir = mkdtempSync(join(tmpdir(), "pst-sshd-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_ed25519")]);
  const hostPub = execFileSync("cat", [join(dir, "host_ed25519.pub")], { encoding: "utf8" }).trim().split(" ").slice(0, 2).join(" ");
  writeFileSync(join(dir, "known_hosts"), `[127.0.0.1]:${port} ${hostPub}\n`);
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_ed25519")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "UsePAM no",
      "StrictModes yes",
      "LogLevel VERBOSE",
      extra,
      "",
    ].join("\n"),
  );
  return { dir, config, pidFile: join(dir, "sshd.pid"), log: join(dir, "sshd.log"), port, knownHosts: join(dir, "known_hosts") };
}
