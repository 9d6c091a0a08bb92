/**
 * Runs the real node bootstrap (the exact text EC2 user-data carries, rendered with file:// and
 * http:// sources) on this machine as root: the agent artifact comes over HTTP from a 127.0.0.1
 * server this test starts (its first answer is a 503, which the bootstrap must retry), the pointers
 * and the users file and projects bundle from files, sshd is our own on 127.0.0.1:2299. Instance `podspawn-boot`
 * keeps it apart from other tests. The environment image is a tag of its own
 * (podspawn/default:boot-e2e) that does not exist before the run: the bootstrap must provide it
 * with the agent's image kit. Everything it creates is removed at the end.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, createReadStream } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderBootstrapScript } from "../../infra/src/bootstrap/bootstrap-script.js";
import { fileRelease, publishAgent, publishProjects, publishUsers, type FileRelease } from "../../infra/src/ops/file-release.js";
import { packProjectsBundle, writeProjectsBundle } from "../../infra/src/bootstrap/projects-bundle.js";

const INSTANCE = "podspawn-boot";
const NODE = "boot-1";
const USER = "pboot-alice";
const OTHER = "pboot-bob";
const PORT = 2299;
const IMAGE = "podspawn/default:boot-e2e";
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const bundleDir = join(root, "dist", "bundle");

// Under /var/tmp, not /tmp: nothing here is on the sshd command path, but keep test state off tmpfs cleaners.
const dir = mkdtempSync("/var/tmp/podspawn-boot-");
const sshdConfig = join(dir, "sshd_config");
const sshdPid = join(dir, "sshd.pid");
const sshdLog = join(dir, "sshd.log");
const statusFile = join(dir, "status", `${NODE}.json`);
const scriptFile = join(dir, "bootstrap.sh");
const clientKey = join(dir, "id_alice");
const bobKey = join(dir, "id_bob");
const strangerKey = join(dir, "id_stranger");
const knownHosts = join(dir, "known_hosts");
const release: FileRelease = fileRelease(join(dir, "release"));
const work = `/var/lib/${INSTANCE}-bootstrap`;
const COMMAND = `/usr/local/lib/${INSTANCE}/bin/podspawn`;
let server: Server | undefined;
let httpBase = "";
let artifactSha = "";
const served: string[] = [];

function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { encoding: "utf8", input, timeout: 120_000 });
}

/** The bootstrap fetches from this process's HTTP server, so it must not block the event loop. */
function runScript(file: string, args: string[] = []): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [file, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGTERM"), 150_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}

function ssh(key: string, command = "true") {
  return run("ssh", [
    "-i", key, "-p", String(PORT), "-F", "/dev/null",
    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "KexAlgorithms=curve25519-sha256", "-o", "ConnectTimeout=5", `${key === bobKey ? OTHER : USER}@127.0.0.1`, command,
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
  // The one wait that is normal right after a run: sshd, reloaded with SIGHUP, re-executes itself
  // and is briefly not listening. (The bootstrap itself waits for the daemon to answer.)
  const deadline = Date.now() + 15_000;
  while (r.status !== 0 && /port \d+: Connection refused/.test(r.stderr) && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    r = ssh(clientKey, `echo ${marker}; hostname; id -un`);
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, expected };
}

function pub(key: string): string {
  return readFileSync(`${key}.pub`, "utf8").trim();
}

function writeUsers(users: { name: string; keys: string[] }[]): void {
  publishUsers(release, { version: 1, users } as never);
}

/** The repository the projects bundle is made from, as synth makes it (infra/src/bootstrap/projects-bundle.ts). */
async function publishProjectsRepo(files: Record<string, string>): Promise<string> {
  const repo = mkdtempSync(join(dir, "repo-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), text);
  }
  const bundle = await writeProjectsBundle({ projectsFile: join(repo, "projects.yaml"), podfilesRoot: repo }, join(repo, "out"));
  return publishProjects(release, readFileSync(bundle.path));
}

const DEBIAN_12_RUNC_OPEN = ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"];
const BASE_PODFILE = `name: boot base\nbase: ${IMAGE}\npackages: [jq]\n`;
const webPodfile = (pkg: string) => `name: boot web\nextends: ./base.yaml\npackages: [${pkg}]\n`;

/** `podspawn list-projects` on the node: name -> "state image (source)". */
function nodeProjects(): Map<string, string> {
  const r = spawnSync(COMMAND, ["list-projects"], { encoding: "utf8", env: { ...process.env, PODSPAWN_INSTANCE: INSTANCE }, timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return new Map(r.stdout.split("\n").slice(1).filter(Boolean).map((line) => {
    const [name, ...rest] = line.trim().split(/\s+/);
    return [name as string, rest.join(" ")];
  }));
}

function status(): Record<string, unknown> {
  return JSON.parse(readFileSync(statusFile, "utf8")) as Record<string, unknown>;
}

function renderScript(): string {
  return renderBootstrapScript({
    instance: INSTANCE,
    node: NODE,
    agentPointerUrl: release.agentPointerUrl,
    agentBaseUrl: `${httpBase}/agent/`,
    usersPointerUrl: release.usersPointerUrl,
    usersBaseUrl: release.usersBaseUrl,
    projectsPointerUrl: release.projectsPointerUrl,
    projectsBaseUrl: release.projectsBaseUrl,
    statusUrl: `file://${statusFile}`,
    sshdConfig,
    sshdPidFile: sshdPid,
    syncIntervalSeconds: 3600,
    agentPollSeconds: 3600,
    defaultImage: IMAGE,
    // Debian 12's newest runc has these open (reach: images only); the fleet accepts them in config.
    acceptRuncAdvisories: DEBIAN_12_RUNC_OPEN,
    retry: { attempts: 4, firstDelayMs: 200 },
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

// One bootstrap run of a few seconds here (the image is a retag of the content-tagged default);
// the bound stays inside the runner's per-file --test-timeout (180 s).
describe("node bootstrap (real run, instance podspawn-boot)", { timeout: 170_000 }, () => {
  before(async () => {
    assert.equal(process.getuid?.(), 0, "the bootstrap e2e runs as root");
    for (const f of ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs", "build-image.mjs"]) {
      assert.ok(existsSync(join(bundleDir, f)), `missing ${join(bundleDir, f)}: run 'npm run build' first`);
    }
    // The tag is this test's own: a run killed before its clean-up (or an earlier CI run on the same
    // machine) leaves it, and the run must prove the kit provides it, so it goes first.
    run("docker", ["rmi", "-f", IMAGE]);
    assert.notEqual(run("docker", ["image", "inspect", IMAGE]).status, 0, `${IMAGE} still exists before the run`);
    artifactSha = await publishAgent(release, bundleDir, { defaultContext: join(root, "podfiles", "default") });
    let refusedOnce = false;
    server = createServer((req, res) => {
      served.push(req.url ?? "");
      const m = /^\/agent\/([0-9a-f]{64}\.tar\.gz)$/.exec(req.url ?? "");
      if (m && !refusedOnce) {
        // A cloud's first answer while an instance boots is often an error: it must be retried.
        refusedOnce = true;
        res.writeHead(503).end();
      } else if (m && existsSync(join(release.dir, "agent", m[1] as string))) {
        res.writeHead(200, { "content-type": "application/gzip" });
        createReadStream(join(release.dir, "agent", m[1] as string)).pipe(res);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
    writeFileSync(knownHosts, `[127.0.0.1]:${PORT} ${readFileSync(join(dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ")}\n`);
    for (const [k, c] of [[clientKey, "alice"], [bobKey, "bob"], [strangerKey, "stranger"]] as const) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${c}@test`, "-f", k]);
    writeFileSync(sshdConfig, [
      `Port ${PORT}`, "ListenAddress 127.0.0.1", `HostKey ${join(dir, "host_key")}`, `PidFile ${sshdPid}`,
      "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "LogLevel VERBOSE",
      "Subsystem sftp internal-sftp", "",
    ].join("\n"));
    execFileSync("mkdir", ["-p", "/run/sshd"]);
    execFileSync("/usr/sbin/sshd", ["-f", sshdConfig, "-E", sshdLog]);
    writeUsers([{ name: USER, keys: [pub(clientKey)] }, { name: OTHER, keys: [pub(bobKey)] }]);
    await publishProjectsRepo({
      "projects.yaml": "version: 1\nprojects:\n  - name: boot-web\n    podfile: podfiles/web.yaml\n",
      "podfiles/web.yaml": webPodfile("curl"),
      "podfiles/base.yaml": BASE_PODFILE,
      "podfiles/unrelated.yaml": "not shipped\n",
    });
    writeFileSync(scriptFile, renderScript(), { mode: 0o755 });
  });

  after(async () => {
    const runDir = `/run/${INSTANCE}-bootstrap`;
    for (const loop of ["sync-loop", "agent-loop"]) killPidFile(join(runDir, `${loop}.pid`), true);
    killPidFile(join(runDir, "daemon.pid"), true);
    killPidFile(sshdPid);
    await new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
    for (const bin of ["iptables", "ip6tables"]) {
      const dst = bin === "iptables" ? "169.254.169.254/32" : "fd00:ec2::254/128";
      while (run(bin, ["-w", "-D", "DOCKER-USER", "-d", dst, "-m", "comment", "--comment", `${INSTANCE}-imds`, "-j", "DROP"]).status === 0) {
        // delete every copy
      }
    }
    // Sessions the daemon started for this instance (labelled by it), then the accounts.
    for (const kind of [["ps", "-aq"], ["network", "ls", "-q"]] as const) {
      const ids = run("docker", [...kind, "--filter", `label=podspawn.instance=${INSTANCE}`]).stdout.split("\n").filter(Boolean);
      if (ids.length) run("docker", [kind[0] === "ps" ? "rm" : "network", ...(kind[0] === "ps" ? ["-f"] : ["rm"]), ...ids]);
    }
    run("docker", ["rmi", IMAGE]);
    for (const u of [USER, OTHER]) {
      if (run("id", [u]).status === 0) run("userdel", [u]);
      run("groupdel", [u]);
    }
    for (const p of [
      `/usr/local/lib/${INSTANCE}`, `/etc/${INSTANCE}`, `/var/lib/${INSTANCE}`, `/var/lib/${INSTANCE}-bootstrap`, `/run/${INSTANCE}`, runDir,
      `/usr/local/sbin/${INSTANCE}-node`, `/usr/local/sbin/${INSTANCE}-block-metadata`,
      ...["daemon", "sync-loop", "agent-loop"].map((l) => `/var/log/${INSTANCE}-${l}.log`), dir,
    ]) {
      rmSync(p, { recursive: true, force: true });
    }
  });

  it("runs to completion as root, retrying the failed fetch, and reports the node ready", async () => {
    const first = await runScript(scriptFile);
    assert.equal(first.status, 0, `bootstrap failed:\n${first.stderr}`);
    assert.match(first.stderr, /node ready/);
    assert.match(first.stderr, /attempt 1 failed, again in 200 ms: fetch_once http:\/\/127\.0\.0\.1:\d+\/agent\/[0-9a-f]{64}\.tar\.gz/);
    assert.equal(served.filter((u) => u.endsWith(".tar.gz")).length, 2, "one 503, one retry");
    assert.doesNotMatch(first.stderr, /installing /, "packages are present: apt-get must not run");
    assert.deepEqual({ ...status(), time: "-" }, { version: 1, node: NODE, instance: INSTANCE, state: "ready", step: "ready", agent: artifactSha, detail: "", time: "-" });
  });

  it("installs itself and the agent root-owned, the agent verified against the pointer's sha256", () => {
    for (const file of [`/usr/local/lib/${INSTANCE}/bin/podspawn`, `/usr/local/sbin/${INSTANCE}-node`]) {
      const st = statSync(file);
      assert.equal(st.uid, 0, file);
      assert.equal(st.mode & 0o022, 0, `${file} is not group/world-writable`);
    }
    assert.ok(existsSync(`/var/lib/${INSTANCE}-bootstrap/agent-${artifactSha}/.verified`), "artifact verified against its sha256");
    assert.equal(readFileSync(`/var/lib/${INSTANCE}-bootstrap/agent.current`, "utf8").trim(), artifactSha);
  });

  it("provides the environment image with the agent's image kit, and points the node config at it", () => {
    assert.equal(run("docker", ["image", "inspect", IMAGE]).status, 0, `${IMAGE} was not provided`);
    assert.match(readFileSync(`/etc/${INSTANCE}/config.yaml`, "utf8"), new RegExp(`^image: ${IMAGE.replace(/[/.]/g, "\\$&")}$`, "m"));
  });

  it("writes the fleet's accepted runc advisories into the node config, and the node's own runc check takes them", () => {
    assert.match(readFileSync(`/etc/${INSTANCE}/config.yaml`, "utf8"), new RegExp(`^engine:\n  accept_runc_advisories: \\[${DEBIAN_12_RUNC_OPEN.join(", ")}\\]$`, "m"));
    const doctor = spawnSync(COMMAND, ["doctor"], { encoding: "utf8", env: { ...process.env, PODSPAWN_INSTANCE: INSTANCE }, timeout: 60_000 });
    const line = doctor.stdout.split("\n").find((l) => /\brunc\b/.test(l)) ?? "";
    assert.match(line, /no open advisory refuses sessions/, doctor.stdout);
  });

  it("blocks containers from the metadata address in DOCKER-USER", () => {
    const rules = run("iptables", ["-w", "-S", "DOCKER-USER"]).stdout;
    assert.match(rules, new RegExp(`-d 169\\.254\\.169\\.254/32 .*--comment "?${INSTANCE}-imds"? -j DROP`));
  });

  it("logs the registered key in to a session inside the project's container, made from that image", async () => {
    const r = await loginProof();
    assert.equal(r.stdout, r.expected, `status ${r.status}, stderr ${JSON.stringify(r.stderr)}`);
    assert.equal(r.status, 0);
    assert.match(readFileSync(sshdLog, "utf8"), new RegExp(`Accepted publickey for ${USER}`));
    const rendered = readFileSync(`/etc/${INSTANCE}/authorized_keys/${USER}`, "utf8");
    assert.match(rendered, new RegExp(`command="/usr/local/lib/${INSTANCE}/bin/podspawn spawn --user ${USER}"`));
    assert.equal(run("docker", ["inspect", "--format", "{{.Config.Image}}", `${INSTANCE}.${USER}.default`]).stdout.trim(), IMAGE);
  });

  it("refuses a key that is not registered", () => {
    assert.match(ssh(strangerKey).stderr, /Permission denied/);
  });

  it("converges the projects bundle its pointer names: list-projects shows the project, from the unpacked bundle in a root-only directory", () => {
    const projects = nodeProjects();
    assert.deepEqual([...projects.keys()], ["boot-web"]);
    assert.match(projects.get("boot-web") ?? "", new RegExp(`^pending podspawn/boot-web:podfile-[0-9a-f]{12} \\(Podfile ${work}/projects/podfiles/web\\.yaml\\)$`));
    const st = statSync(`${work}/projects`);
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o077, 0, "root only");
    assert.equal(readFileSync(`${work}/projects/podfiles/base.yaml`, "utf8"), BASE_PODFILE, "what web.yaml extends came with it");
    assert.ok(!existsSync(`${work}/projects/podfiles/unrelated.yaml`), "and nothing else");
  });

  it("updates the projects when the bundle changes, on the next sync", async () => {
    const before = nodeProjects().get("boot-web") ?? "";
    const sha = await publishProjectsRepo({
      "projects.yaml": "version: 1\nprojects:\n  - name: boot-web\n    podfile: podfiles/web.yaml\n  - name: boot-plain\n",
      "podfiles/web.yaml": webPodfile("wget"),
      "podfiles/base.yaml": BASE_PODFILE,
    });
    const sync = run(`/usr/local/sbin/${INSTANCE}-node`, ["sync-users"]);
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(sync.stderr, /update project boot-web/);
    const after = nodeProjects();
    assert.deepEqual([...after.keys()], ["boot-plain", "boot-web"]);
    assert.notEqual(after.get("boot-web"), before, "web's Podfile changed, so its image did");
    assert.match(after.get("boot-plain") ?? "", /\(the node's default environment\)$/);
    assert.equal(readFileSync(`${work}/projects.current`, "utf8").trim(), sha);
    // The same bundle again changes nothing.
    const again = run(`/usr/local/sbin/${INSTANCE}-node`, ["sync-users"]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /projects: nothing to change \(2 up to date\)/);
  });

  /** A bad bundle, published with a users file that removes bob: no project changes, bob is revoked all the same, the run fails. */
  async function refusedWithUsers(publishBad: () => Promise<void> | void, refusal: RegExp): Promise<void> {
    const projectsBefore = nodeProjects();
    const webBefore = readFileSync(`${work}/projects/podfiles/web.yaml`, "utf8");
    const goodPointer = readFileSync(join(release.dir, "projects", "current.sha256"), "utf8");
    writeUsers([{ name: USER, keys: [pub(clientKey)] }]);
    await publishBad();
    try {
      const sync = run(`/usr/local/sbin/${INSTANCE}-node`, ["sync-users"]);
      assert.equal(sync.status, 1, sync.stderr);
      assert.match(sync.stderr, refusal);
      assert.deepEqual(nodeProjects(), projectsBefore, "the previous projects stay");
      assert.equal(readFileSync(`${work}/projects/podfiles/web.yaml`, "utf8"), webBefore, "and their files");
      assert.notEqual(ssh(bobKey).status, 0, "the users file of the same sync was applied: a refused bundle never holds a revocation back");
      assert.match(sync.stderr, /users file [0-9a-f]{64} applied; projects bundle [0-9a-f]{64} refused, the node keeps its previous projects/);
      assert.deepEqual(run("bash", ["-c", `ls -d ${work}/projects-new.* ${work}/projects-tar.* ${work}/projects.prev 2>/dev/null || true`]).stdout, "", "nothing left behind");
    } finally {
      writeUsers([{ name: USER, keys: [pub(clientKey)] }, { name: OTHER, keys: [pub(bobKey)] }]);
      writeFileSync(join(release.dir, "projects", "current.sha256"), goodPointer);
      const back = run(`/usr/local/sbin/${INSTANCE}-node`, ["sync-users"]);
      assert.equal(back.status, 0, `the good bundle and bob converge again: ${back.stderr}`);
    }
  }

  it("changes no project, and still applies the users file, for a bundle that does not match the sha256 its pointer names", async () => {
    await refusedWithUsers(() => {
      const sha = readFileSync(join(release.dir, "projects", "current.sha256"), "utf8").trim();
      const bogus = "f".repeat(64);
      writeFileSync(join(release.dir, "projects", `${bogus}.tar`), readFileSync(join(release.dir, "projects", `${sha}.tar`)).subarray(0, 700));
      writeFileSync(join(release.dir, "projects", "current.sha256"), `${bogus}\n`);
    }, new RegExp(`error: file://\\S+/projects/${"f".repeat(64)}\\.tar does not match the sha256 its pointer names`));
  });

  it("changes no project, and still applies the users file, for a bundle with a member that is not a plain file (a symlink out of it)", async () => {
    await refusedWithUsers(async () => {
      const { default: tar } = await import("tar-stream");
      const pack = tar.pack();
      const chunks: Buffer[] = [];
      const done = (async () => {
        for await (const c of pack) chunks.push(c as Buffer);
      })();
      pack.entry({ name: "projects.yaml", mode: 0o644 }, "version: 1\nprojects:\n  - name: boot-web\n    podfile: podfiles/web.yaml\n");
      pack.entry({ name: "podfiles/web.yaml", type: "symlink", linkname: "/etc/shadow" });
      pack.finalize();
      await done;
      publishProjects(release, Buffer.concat(chunks));
    }, /projects bundle: refused member: l.* podfiles\/web\.yaml -> \/etc\/shadow[\s\S]*projects bundle [0-9a-f]{64} refused/);
  });

  it("changes no project for a bundle whose Podfile the node's podspawn sync refuses, puts the previous files back, and still applies the users file", async () => {
    await refusedWithUsers(async () => {
      publishProjects(release, await packProjectsBundle(new Map([
        ["projects.yaml", Buffer.from("version: 1\nprojects:\n  - name: boot-web\n    podfile: podfiles/web.yaml\n")],
        ["podfiles/web.yaml", Buffer.from(`name: boot web\nbase: ${IMAGE}\npackges: [curl]\n`)],
      ])));
    }, new RegExp(`${work}/projects/podfiles/web\\.yaml:3: packges: unknown field; did you mean packages\\?[\\s\\S]*podspawn sync refused users file [0-9a-f]{64} with projects bundle [0-9a-f]{64}`));
  });

  it("is idempotent: a second run succeeds and does not fetch the artifact again", async () => {
    server?.close();
    // With the artifact server gone, a second fetch would fail the run.
    const again = await runScript(scriptFile);
    assert.equal(again.status, 0, again.stderr);
    const r = await loginProof();
    assert.equal(r.stdout, r.expected, `status ${r.status}, stderr ${JSON.stringify(r.stderr)}`);
  });

  it("makes a failure visible: a pointer to an artifact that does not match stops the run and is recorded with its step", async () => {
    const good = readFileSync(join(release.dir, "agent", "current.sha256"), "utf8");
    const bogus = "0".repeat(64);
    writeFileSync(join(release.dir, "agent", `${bogus}.tar.gz`), "not the artifact");
    writeFileSync(join(release.dir, "agent", "current.sha256"), `${bogus}\n`);
    // The installed node script fetches over http; serve the bogus file from a file:// script instead.
    writeFileSync(scriptFile, renderScript().replace(`AGENT_BASE_URL='${httpBase}/agent/'`, `AGENT_BASE_URL='${release.agentBaseUrl}'`));
    try {
      const r = await runScript(scriptFile);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`error: file://\\S+/agent/${bogus}\\.tar\\.gz does not match the sha256 its pointer names \\(${bogus}\\)`));
      assert.match(r.stderr, /failed in step agent \(exit 1\)/);
      const s = status();
      assert.equal(s["state"], "failed");
      assert.equal(s["step"], "agent");
      assert.match(String(s["detail"]), /does not match the sha256 its pointer names/);
      // Nothing after the failed step ran: the node still runs what it ran.
      assert.equal(readFileSync(`/var/lib/${INSTANCE}-bootstrap/agent.current`, "utf8").trim(), artifactSha);
    } finally {
      writeFileSync(join(release.dir, "agent", "current.sha256"), good);
      writeFileSync(scriptFile, renderScript());
    }
  });

  it("revokes access when a user is removed from the users file and the sync runs", () => {
    writeUsers([{ name: USER, keys: [pub(clientKey)] }]);
    assert.equal(ssh(bobKey).status, 0, "bob can log in before");
    const sync = run(`/usr/local/sbin/${INSTANCE}-node`, ["sync-users"]);
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(ssh(bobKey).stderr, /Permission denied/);
  });

  it("refuses a users file that would remove every user, unless the pointer allows it", () => {
    writeUsers([]);
    const refused = run(`/usr/local/sbin/${INSTANCE}-node`, ["sync-users"]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /refusing to sync \S+: it would remove all 1 pod user\(s\) of this node; nothing changed/);
    assert.equal(ssh(clientKey).status, 0, "alice still logs in");
    publishUsers(release, { version: 1, users: [] } as never, ["allow-mass-removal"]);
    const allowed = run(`/usr/local/sbin/${INSTANCE}-node`, ["sync-users"]);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.match(ssh(clientKey).stderr, /Permission denied/);
  });
});
