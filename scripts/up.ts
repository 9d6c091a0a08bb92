/**
 * `npm run up`: a working podspawn node on this machine, from a fresh clone, in one command.
 *
 *   provision the host -> build the default image (cached) -> podspawn install -> config.yaml (if
 *   absent) -> node daemon -> a dedicated sshd on 127.0.0.1:2222 -> podspawn server-setup -> your
 *   ed25519 key -> podspawn add-user -> print the ssh command.
 *
 * Idempotent: each step says whether it changed anything, and a second run finds everything running.
 * The system sshd on port 22 is left alone; `npm run down` stops what this started.
 *
 * With --nodes N it starts a local fleet instead (scripts/local-fleet.ts): N nodes, each set up
 * by the real node bootstrap, a fleet manifest, `podspawn client-setup` for you, and the line to
 * `ssh dev@work.pod` through `podspawn connect`.
 *
 * Usage: node dist/scripts/up.js [--user NAME] [--port 2222] [--nodes N]
 */
import { createHash } from "node:crypto";
import { chown, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { $ } from "zx/core";
import { parsePort } from "../agent/src/core/config/units.js";
import { layoutFor, type Layout } from "../agent/src/core/host/layout.js";
import { buildImages, describeResult } from "./build-image.js";
import { startLocalFleet, upFleetSpec } from "./local-fleet.js";
import { parsePublicKey } from "../agent/src/core/users/keys.js";
import type { UsersConfig } from "../agent/src/core/config/users-config.js";
import { daemonRunning, quickstartPaths, renderSshdConfig, runCommand, runPodspawn, sshdRunning, startDaemon, startSshd, stopDaemon, stopSshd, type SshdOptions } from "./local-node.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Written only when absent: an admin's edits survive every later `up`. Keys are the daemon's. */
export const QUICKSTART_CONFIG = `# podspawn node config. Reference: docs/operations.md
image: podspawn/default:bookworm
session:
  mode: grace-period      # grace-period | destroy-on-disconnect | persistent
  grace_period: 60s
resources:
  cpus: 2
  memory: 2g
  pids: 512
`;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => `    ${l}`)
    .join("\n");
}

/** Runs a step's command with its output going to our stderr (progress), failing loudly. */
async function runVisible(cmd: string, args: readonly string[]): Promise<void> {
  const r = await $({ stdio: ["ignore", process.stderr, process.stderr], nothrow: true })`${cmd} ${args}`;
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.exitCode ?? r.signal}`);
}

async function mustPodspawn(instance: string, args: readonly string[]): Promise<string> {
  const r = await runPodspawn(instance, args);
  if (r.code !== 0) throw new Error(`podspawn ${args.join(" ")} exited ${r.code}:\n${indent(r.stderr || r.stdout)}`);
  return r.stdout;
}

/** The installed program tree's content, so a daemon running old code is noticed and restarted. */
async function hashTree(dir: string): Promise<string> {
  const hash = createHash("sha256");
  async function walk(d: string): Promise<void> {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) hash.update(`${p}\0`).update(await readFile(p));
    }
  }
  await walk(dir);
  return hash.digest("hex");
}

async function ensureDaemon(layout: Layout, stateDir: string, daemonLog: string): Promise<void> {
  const installed = await hashTree(layout.libDir);
  const stampFile = join(stateDir, "daemon-program.sha256");
  const running = await daemonRunning(layout.instance);
  if (running) {
    const stamp = (await readFile(stampFile, "utf8").catch(() => "")).trim();
    if (stamp === "" || stamp === installed) {
      say(`daemon: already running (pid ${running})`);
      return;
    }
    // Started by an earlier `up` from older code: restart so the node runs what was just installed.
    // Containers survive; the daemon adopts them from their labels.
    say(`daemon: installed program changed since pid ${running} started; restarting`);
    await stopDaemon(layout.instance);
  }
  const { pid } = await startDaemon({ instance: layout.instance, logFile: daemonLog });
  await writeFile(stampFile, `${installed}\n`);
  say(`daemon: started (pid ${pid}, log ${daemonLog})`);
}

async function ensureSshd(o: SshdOptions): Promise<void> {
  const running = await sshdRunning(o);
  if (running) {
    const current = await readFile(join(o.dir, "sshd_config"), "utf8").catch(() => "");
    if (current === renderSshdConfig(o)) {
      say(`sshd: already running on ${o.listen}:${o.port} (pid ${running})`);
      return;
    }
    say(`sshd: settings changed (pid ${running}); restarting`);
    await stopSshd(o);
  }
  const h = await startSshd(o);
  say(`sshd: started on ${h.listen}:${h.port} (pid ${h.pid}, config ${h.configFile}, log ${h.logFile})`);
}

interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** The person running `sudo npm run up` (SUDO_USER), else root: the key goes in their ~/.ssh. */
async function invokingAccount(): Promise<Account> {
  const name = process.env["SUDO_USER"] && process.env["SUDO_USER"] !== "root" ? process.env["SUDO_USER"] : "root";
  const passwd = await readFile("/etc/passwd", "utf8");
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f[5]) return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
  }
  return { name: "root", uid: 0, gid: 0, home: process.env["HOME"] ?? "/root" };
}

async function ensureClientKey(account: Account): Promise<string> {
  const sshDir = join(account.home, ".ssh");
  const key = join(sshDir, "id_ed25519");
  const exists = await readFile(`${key}.pub`, "utf8").then(() => true, () => false);
  if (exists) {
    say(`key: using ${key}.pub`);
    return `${key}.pub`;
  }
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  const r = await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${account.name}@podspawn-quickstart`, "-f", key]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.trim()}`);
  if (account.uid !== 0) {
    for (const p of [sshDir, key, `${key}.pub`]) await chown(p, account.uid, account.gid);
  }
  say(`key: generated ${key} (no passphrase)`);
  return `${key}.pub`;
}

async function hostKeyFingerprint(pubFile: string): Promise<string> {
  const r = await runCommand("ssh-keygen", ["-l", "-f", pubFile]);
  return r.stdout.trim().split(/\s+/)[1] ?? "(unknown)";
}

/** The fleet path of `up`: N bootstrapped nodes, a manifest, client-setup for the invoking user. */
async function upFleet(count: number, user: string): Promise<void> {
  const account = await invokingAccount();
  const pub = await ensureClientKey(account);
  const key = (await readFile(pub, "utf8")).trim();
  parsePublicKey(key, pub);
  const users = { version: 1, users: [{ name: user, keys: [key] }] } as unknown as UsersConfig;
  say(`fleet: starting ${count} node(s) with the node bootstrap`);
  const fleet = await startLocalFleet(upFleetSpec(count), users);
  for (const n of fleet.nodes) say(`node ${n.name}: ${n.instance} on ${n.listen}:${n.port} (status ${n.statusFile})`);
  say(`manifest: ${fleet.manifestFile}`);
  const dir = join(account.home, ".ssh", "podspawn-local");
  const bundle = join(REPO_ROOT, "dist", "bundle", "podspawn.cjs");
  const setup = await runCommand(process.execPath, [bundle, "client-setup", "--manifest", fleet.manifestFile, "--dir", dir, "--project", "default", "--project", "work"], { env: { ...process.env, HOME: account.home } });
  if (setup.code !== 0) throw new Error(`client-setup exited ${setup.code}:\n${indent(setup.stderr)}`);
  if (account.uid !== 0) for (const p of [dir, join(dir, "config"), join(dir, "known_hosts")]) await chown(p, account.uid, account.gid);
  const asUser = account.uid === 0 ? "" : ` (as ${account.name})`;
  say("");
  say(`A ${count}-node podspawn fleet is up. Log in${asUser}:`);
  say("");
  say(`  ssh -F ${join(dir, "config")} ${user}@work.pod`);
  say("");
  say(`or put '${setup.stdout.trim()}' at the top of ~/.ssh/config and run 'ssh ${user}@work.pod'.`);
  say("The node is chosen by rendezvous hashing of (user, project); host keys are pinned by client-setup.");
  say("Stop it all with: npm run down");
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      user: { type: "string", default: "dev" },
      port: { type: "string", default: "2222" },
      instance: { type: "string", default: "podspawn" },
      nodes: { type: "string" },
    },
  });
  if (values.nodes !== undefined) {
    const count = Number(values.nodes);
    if (!/^\d+$/.test(values.nodes) || count < 1 || count > 9) throw new Error(`--nodes: ${JSON.stringify(values.nodes)} is not a node count (allowed: 1-9)`);
    if (process.getuid?.() !== 0) throw new Error("up needs root (packages, dockerd, sshd, accounts): run it with sudo");
    say("host: provisioning (packages, docker engine)");
    await runVisible("bash", [join(REPO_ROOT, "scripts", "provision-host.sh")]);
    for (const r of await buildImages({ only: "default" })) say(`image: ${describeResult(r)}`);
    await upFleet(count, values.user);
    return;
  }
  const port = parsePort(values.port, "--port");
  if (process.getuid?.() !== 0) throw new Error("up needs root (packages, dockerd, sshd, accounts): run it with sudo");
  const layout = layoutFor(values.instance);
  const paths = quickstartPaths(layout.instance, port);
  const bundle = join(REPO_ROOT, "dist", "bundle", "podspawn.cjs");
  if (!(await readFile(bundle).then(() => true, () => false))) throw new Error(`${bundle} is missing: run 'npm run build' (npm run up does)`);

  say("host: provisioning (packages, docker engine)");
  await runVisible("bash", [join(REPO_ROOT, "scripts", "provision-host.sh")]);

  for (const r of await buildImages({ only: "default" })) say(`image: ${describeResult(r)}`);

  const install = await runCommand(process.execPath, [bundle, "install", "--instance", layout.instance, "--bundle-dir", dirname(bundle)]);
  if (install.code !== 0) throw new Error(`podspawn install exited ${install.code}:\n${indent(install.stderr || install.stdout)}`);
  say(`install:\n${indent(install.stdout)}`);

  await mkdir(layout.etcDir, { recursive: true, mode: 0o755 });
  const wroteConfig = await writeFile(layout.configFile, QUICKSTART_CONFIG, { mode: 0o644, flag: "wx" }).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "EEXIST") return false;
      throw err;
    },
  );
  say(wroteConfig ? `config: wrote ${layout.configFile}` : `config: ${layout.configFile} exists, left as is`);

  await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  await ensureDaemon(layout, paths.stateDir, paths.daemonLog);
  await ensureSshd(paths.sshd);

  const setup = await mustPodspawn(layout.instance, ["server-setup", "--sshd-config", join(paths.sshd.dir, "sshd_config"), "--sshd-pid-file", paths.sshd.pidFile ?? ""]);
  say(`server-setup:\n${indent(setup)}`);

  const account = await invokingAccount();
  const pub = await ensureClientKey(account);
  const added = await mustPodspawn(layout.instance, ["add-user", values.user, "--key-file", pub]);
  say(`add-user:\n${indent(added)}`);

  const hostPub = join(paths.sshd.dir, "ssh_host_ed25519_key.pub");
  const fingerprint = await hostKeyFingerprint(hostPub);
  const hostKey = (await readFile(hostPub, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
  const asUser = account.uid === 0 ? "" : ` (as ${account.name})`;
  say("");
  say(`podspawn is up. Log in${asUser}:`);
  say("");
  say(`  ssh -p ${port} -o KexAlgorithms=curve25519-sha256 ${values.user}@127.0.0.1`);
  say("");
  say("The first time, ssh asks whether to trust this node's host key. Check that it shows");
  say(`  ED25519 key fingerprint is ${fingerprint}`);
  say(`and answer "yes": ssh remembers it in ~/.ssh/known_hosts as [127.0.0.1]:${port}. Or trust it up front:`);
  say(`  echo '[127.0.0.1]:${port} ${hostKey}' >> ~/.ssh/known_hosts`);
  say("(-o KexAlgorithms=curve25519-sha256 only skips the slow post-quantum key exchange; it is optional.)");
  say("Stop it all with: npm run down");
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`up: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
