/**
 * Runs the real node bootstrap (the exact text EC2 user-data carries, rendered for a "local"
 * target) on this machine as root: the agent artifact comes over HTTP from a 127.0.0.1 server this
 * test starts, the users config from a file, sshd is our own on 127.0.0.1:2299. Instance
 * `podspawn-boot` keeps it apart from other tests. Everything it creates is removed at the end.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, createReadStream } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeAgentArtifact } from "../../infra/src/bootstrap/agent-bundle.js";
import { renderBootstrapScript } from "../../infra/src/bootstrap/bootstrap-script.js";

const INSTANCE = "podspawn-boot";
const USER = "pboot-alice";
const PORT = 2299;
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const bundleDir = join(root, "dist", "bundle");

// Under /var/tmp, not /tmp: nothing here is on the sshd command path, but keep test state off tmpfs cleaners.
const dir = mkdtempSync("/var/tmp/podspawn-boot-");
const sshdConfig = join(dir, "sshd_config");
const sshdPid = join(dir, "sshd.pid");
const sshdLog = join(dir, "sshd.log");
const usersFile = join(dir, "users.json");
const clientKey = join(dir, "id_alice");
const strangerKey = join(dir, "id_stranger");
const knownHosts = join(dir, "known_hosts");
let server: Server | undefined;
let artifactUrl = "";
let artifactSha = "";

function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { encoding: "utf8", input, timeout: 120_000 });
}

/** The bootstrap fetches from this process's HTTP server, so it must not block the event loop. */
function runBootstrap(): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-s"], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGTERM"), 120_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
    child.stdin.end(bootstrapScript());
  });
}

function ssh(key: string, command = "true") {
  return run("ssh", [
    "-i", key, "-p", String(PORT), "-F", "/dev/null",
    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "KexAlgorithms=curve25519-sha256", "-o", "ConnectTimeout=5", `${USER}@127.0.0.1`, command,
  ]);
}

/**
 * A real login: a fresh marker echoed from inside the container, the container's hostname (the
 * project) and the account. spawn's own messages go to stderr, so nothing but a session that ran
 * in the container can produce this stdout.
 */
async function loginProof(): Promise<{ status: number | null; stdout: string; stderr: string; expected: string }> {
  const marker = `podspawn-marker-${randomBytes(6).toString("hex")}`;
  const expected = `${marker}\ndefault\n${USER}\n`;
  let r = ssh(clientKey, `echo ${marker}; hostname; id -un`);
  // Two waits are normal right after a run, and only these two: the daemon starts in the background,
  // and sshd, reloaded with SIGHUP, re-executes itself and is briefly not listening.
  const notYet = /session service \(podspawnd\) is not running|port \d+: Connection refused/;
  const deadline = Date.now() + 15_000;
  while (r.status !== 0 && notYet.test(r.stderr) && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    r = ssh(clientKey, `echo ${marker}; hostname; id -un`);
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, expected };
}

/** Containers of the bootstrap's instance, as Docker sees them. */
function instanceContainers(): string[] {
  return run("docker", ["ps", "--filter", `label=podspawn.instance=${INSTANCE}`, "--format", "{{.Names}}"]).stdout.split("\n").filter(Boolean);
}

function writeUsers(users: { name: string; keys: string[] }[]): void {
  writeFileSync(usersFile, JSON.stringify({ version: 1, users }, null, 2));
}

function bootstrapScript(): string {
  return renderBootstrapScript({
    instance: INSTANCE,
    artifactUrl,
    artifactSha256: artifactSha,
    usersUrl: `file://${usersFile}`,
    sshdConfig,
    sshdPidFile: sshdPid,
    syncIntervalSeconds: 3600,
  });
}

function killPidFile(file: string, group = false): void {
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(group ? -pid : pid, "SIGTERM");
  } catch {
    // already gone
  }
}

// Two bootstrap runs of ~1 s each here; the bound stays inside the runner's per-file --test-timeout (180 s).
describe("node bootstrap (real run, instance podspawn-boot)", { timeout: 170_000 }, () => {
  before(async () => {
    assert.equal(process.getuid?.(), 0, "the bootstrap e2e runs as root");
    for (const f of ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"]) {
      assert.ok(existsSync(join(bundleDir, f)), `missing ${join(bundleDir, f)}: run 'npm run build' first`);
    }
    const artifact = await writeAgentArtifact(bundleDir, join(dir, "srv"));
    artifactSha = artifact.sha256;
    server = createServer((req, res) => {
      if (req.url === "/agent.tar.gz") {
        res.writeHead(200, { "content-type": "application/gzip" });
        createReadStream(artifact.path).pipe(res);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    artifactUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/agent.tar.gz`;

    // The node the bootstrap makes shares this machine's Docker engine. No registry exists here and
    // the bootstrap builds no image, so the default image must come from scripts/build-image
    // (.ci/run runs it before the tests), as it must on any node today.
    assert.equal(run("docker", ["image", "inspect", "podspawn/default:bookworm"]).status, 0, "image podspawn/default:bookworm is missing: run node dist/scripts/build-image.js");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
    writeFileSync(knownHosts, `[127.0.0.1]:${PORT} ${readFileSync(join(dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ")}\n`);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice@test", "-f", clientKey]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "stranger@test", "-f", strangerKey]);
    writeFileSync(sshdConfig, [
      `Port ${PORT}`, "ListenAddress 127.0.0.1", `HostKey ${join(dir, "host_key")}`, `PidFile ${sshdPid}`,
      "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "LogLevel VERBOSE",
      "Subsystem sftp internal-sftp", "",
    ].join("\n"));
    execFileSync("mkdir", ["-p", "/run/sshd"]);
    execFileSync("/usr/sbin/sshd", ["-f", sshdConfig, "-E", sshdLog]);
    writeUsers([{ name: USER, keys: [readFileSync(`${clientKey}.pub`, "utf8").trim()] }]);
  });

  after(async () => {
    const runDir = `/run/${INSTANCE}-bootstrap`;
    killPidFile(join(runDir, "sync-loop.pid"), true);
    killPidFile(join(runDir, "daemon.pid"), true);
    killPidFile(sshdPid);
    await new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
    for (const bin of ["iptables", "ip6tables"]) {
      const dst = bin === "iptables" ? "169.254.169.254/32" : "fd00:ec2::254/128";
      while (run(bin, ["-w", "-D", "DOCKER-USER", "-d", dst, "-m", "comment", "--comment", `${INSTANCE}-imds`, "-j", "DROP"]).status === 0) {
        // delete every copy
      }
    }
    // Sessions the daemon started for this instance (labelled by it), then the account.
    for (const kind of [["ps", "-aq"], ["network", "ls", "-q"]] as const) {
      const ids = run("docker", [...kind, "--filter", `label=podspawn.instance=${INSTANCE}`]).stdout.split("\n").filter(Boolean);
      if (ids.length) run("docker", [kind[0] === "ps" ? "rm" : "network", ...(kind[0] === "ps" ? ["-f"] : ["rm"]), ...ids]);
    }
    if (run("id", [USER]).status === 0) run("userdel", [USER]);
    run("groupdel", [USER]);
    for (const p of [
      `/usr/local/lib/${INSTANCE}`, `/etc/${INSTANCE}`, `/var/lib/${INSTANCE}`, `/var/lib/${INSTANCE}-bootstrap`, `/run/${INSTANCE}`, runDir,
      `/usr/local/sbin/${INSTANCE}-sync`, `/usr/local/sbin/${INSTANCE}-block-metadata`,
      `/var/log/${INSTANCE}-daemon.log`, `/var/log/${INSTANCE}-sync-loop.log`, dir,
    ]) {
      rmSync(p, { recursive: true, force: true });
    }
  });

  it("runs to completion as root and reports the node ready", async () => {
    const first = await runBootstrap();
    assert.equal(first.status, 0, `bootstrap failed:\n${first.stderr}`);
    assert.match(first.stderr, /node ready/);
    assert.doesNotMatch(first.stderr, /installing /, "packages are present: apt-get must not run");
  });

  it("installs the agent root-owned under /usr/local/lib/podspawn-boot with the wrapper sshd runs", () => {
    const wrapper = `/usr/local/lib/${INSTANCE}/bin/podspawn`;
    const st = statSync(wrapper);
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o022, 0, "not group/world-writable");
    assert.ok(existsSync(`/var/lib/${INSTANCE}-bootstrap/agent-${artifactSha}/.verified`), "artifact verified against its sha256");
  });

  it("blocks containers from the metadata address in DOCKER-USER", () => {
    const rules = run("iptables", ["-w", "-S", "DOCKER-USER"]).stdout;
    assert.match(rules, new RegExp(`-d 169\\.254\\.169\\.254/32 .*--comment "?${INSTANCE}-imds"? -j DROP`));
  });

  it("logs the registered key in to a session inside the project's container", async () => {
    const r = await loginProof();
    assert.equal(r.stdout, r.expected, `status ${r.status}, stderr ${JSON.stringify(r.stderr)}`);
    assert.equal(r.status, 0);
    assert.match(readFileSync(sshdLog, "utf8"), new RegExp(`Accepted publickey for ${USER}`));
    const rendered = readFileSync(`/etc/${INSTANCE}/authorized_keys/${USER}`, "utf8");
    assert.match(rendered, new RegExp(`command="/usr/local/lib/${INSTANCE}/bin/podspawn spawn --user ${USER}"`));
    assert.ok(instanceContainers().includes(`${INSTANCE}.${USER}.default`), `containers of ${INSTANCE}: ${instanceContainers().join(", ")}`);
  });

  it("refuses a key that is not registered", () => {
    assert.match(ssh(strangerKey).stderr, /Permission denied/);
  });

  it("is idempotent: a second run succeeds and does not fetch the artifact again", async () => {
    server?.close();
    // With the artifact server gone, a second fetch would fail the run.
    const again = await runBootstrap();
    assert.equal(again.status, 0, again.stderr);
    const r = await loginProof();
    assert.equal(r.stdout, r.expected, `status ${r.status}, stderr ${JSON.stringify(r.stderr)}`);
  });

  it("revokes access when the user is removed from the config and the sync runs", () => {
    writeUsers([]);
    const sync = run(`/usr/local/sbin/${INSTANCE}-sync`, []);
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(ssh(clientKey).stderr, /Permission denied/);
  });
});
