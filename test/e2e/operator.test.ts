import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { VERSION } from "../../agent/src/core/version.js";
import { runCommand } from "../../scripts/local-node.js";
import { DEFAULT_TEST_CONFIG, eventually, INSTANCE, layout, sshdOptions, startNode, type NodeHandle } from "./harness.js";
import { sshInBackground, within } from "./session-child.js";

/** The operator's commands against a real node, and the session rules they rely on. */
const OP = "e2e-op";
const QUIET = "e2e-quiet";
let node: NodeHandle;

before(async () => {
  node = await startNode([OP, QUIET], { projects: ["web", "api", "keep", "short"] });
});
after(async () => {
  await node?.stop();
});

const containerOf = (user: string, project: string): string => `${INSTANCE}.${user}.${project}`;
const has = (user: string, project: string): boolean => node.containers().some((l) => l.startsWith(`${containerOf(user, project)} `));
const volumes = (): string[] => execFileSync("docker", ["volume", "ls", "-q", "--filter", `label=podspawn.instance=${INSTANCE}`], { encoding: "utf8" }).split("\n").filter(Boolean);
const project = (p: string): string[] => ["-o", `SetEnv=PODSPAWN_PROJECT=${p}`];

describe("podspawn version", () => {
  it("prints the same version on every entry point the wrapper dispatches to", async () => {
    for (const args of [["--version"], ["version"], ["spawn", "--version"], ["auth-keys", "--version"]]) {
      const r = await node.podspawn(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, `podspawn ${VERSION}\n`, args.join(" "));
    }
  });
});

describe("podspawn list", () => {
  it("shows each environment with its status, sessions, age and lifetime left", async () => {
    const s = sshInBackground(node, OP, [...project("web"), "echo ready; sleep 60"]);
    try {
      assert.ok(await s.waitForStdout("ready"), s.stderr());
      assert.equal((await node.ssh(OP, [...project("api"), "true"])).code, 0);
      const r = await node.podspawn(["list"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n");
      assert.match(lines[0] ?? "", /^USER\s+PROJECT\s+CONTAINER\s+STATUS\s+SESSIONS\s+AGE\s+LIFETIME-LEFT$/);
      assert.ok(lines.some((l) => new RegExp(`^${OP}\\s+web\\s+${containerOf(OP, "web").replace(/\./g, "\\.")}\\s+in-use\\s+1\\s+\\d+s\\s+\\S+$`).test(l)), r.stdout);
      assert.ok(lines.some((l) => new RegExp(`^${OP}\\s+api\\s+\\S+\\s+idle\\s+0\\s+`).test(l)), r.stdout);
      const json = JSON.parse((await node.podspawn(["list", "--json"])).stdout) as { environments: { user: string; project: string; status: string }[] };
      assert.ok(json.environments.some((e) => e.user === OP && e.project === "web" && e.status === "in-use"));
    } finally {
      s.child.kill();
      await s.exited;
    }
  });
});

describe("podspawn stop", () => {
  it("ends the user's session of that project with one line on its stderr and removes only that environment", async () => {
    assert.equal((await node.ssh(OP, [...project("api"), "true"])).code, 0);
    const s = sshInBackground(node, OP, [...project("web"), "echo ready; sleep 120"]);
    assert.ok(await s.waitForStdout("ready"), s.stderr());
    const r = await node.podspawn(["stop", `${OP}@web`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `stopped ${OP}@web: ended 1 session, removed 1 container\n`);
    assert.equal(await within(s.exited, 15_000, -1), 255);
    assert.equal(s.stderr(), "podspawn: your web environment was stopped by the node's admin\n");
    assert.equal(s.stdout(), "ready\n");
    assert.equal(has(OP, "web"), false, "the web container is gone");
    assert.equal(has(OP, "api"), true, "the api container is not touched");
    assert.equal((await node.ssh(OP, [...project("web"), "echo again"])).stdout, "again\n", "the user can log in again at once");
  });

  it("refuses an unknown project, naming it and the user's projects, and an unknown user; nothing changes", async () => {
    // A session holds api, so only a refused stop could change what exists (not its grace period).
    const held = sshInBackground(node, OP, [...project("api"), "echo ready; sleep 60"]);
    try {
      assert.ok(await held.waitForStdout("ready"), held.stderr());
      const before = node.containers();
      const p = await node.podspawn(["stop", `${OP}@nope`]);
      assert.equal(p.code, 1);
      assert.match(p.stderr, /^podspawn stop: the daemon refused: project: e2e-op has no environment "nope" on this node \(allowed: [a-z, ]*api[a-z, ]*\)\n$/);
      const u = await node.podspawn(["stop", "e2e-nobody"]);
      assert.equal(u.code, 1);
      assert.match(u.stderr, /^podspawn stop: the daemon refused: user: no pod user named "e2e-nobody"/);
      assert.deepEqual(node.containers(), before);
    } finally {
      held.child.kill();
      await held.exited;
    }
  });

  it("keeps a persistent home without --purge and deletes it with --purge", async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG.replace("mode: grace-period", "mode: persistent"));
    await node.reload();
    try {
      assert.equal((await node.ssh(OP, [...project("keep"), "echo kept > ~/notes"])).code, 0);
      const volume = `${INSTANCE}.${OP}.keep.home`;
      assert.ok(volumes().includes(volume));
      assert.equal((await node.podspawn(["stop", `${OP}@keep`])).stdout, `stopped ${OP}@keep: ended 0 sessions, removed 1 container\n`);
      assert.equal(has(OP, "keep"), false);
      assert.ok(volumes().includes(volume), "the home survives a plain stop");
      const purged = await node.podspawn(["stop", `${OP}@keep`, "--purge"]);
      assert.equal(purged.stdout, `stopped ${OP}@keep: ended 0 sessions, removed 0 containers, deleted 1 home volume\n`, purged.stderr);
      assert.ok(!volumes().includes(volume));
    } finally {
      await node.writeConfig(DEFAULT_TEST_CONFIG);
      await node.reload();
    }
  });
});

describe("podspawn doctor", () => {
  it("passes every check on this node", async () => {
    const r = await node.podspawn(["doctor"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^15 passed, 0 failed$/m);
    assert.match(r.stdout, /^ok\s+runc\s+runc 1\.1\.5\+ds1: no open advisory refuses sessions; accepted in config: CVE-2024-45310, CVE-2025-31133, CVE-2025-52565, CVE-2025-52881$/m, "the e2e config accepts Debian 12's open image-reach advisories");
    assert.match(r.stdout, new RegExp(`^ok\\s+drop-in\\s+${sshdOptions.dir}/sshd_config\\.d/50-${INSTANCE}\\.conf present`, "m"), "it found the node's own sshd");
  });

  it("fails with one fix line when the state dir is opened up, and passes again once it is fixed", async () => {
    await chmod(layout.stateDir, 0o755);
    try {
      const r = await node.podspawn(["doctor", "--json"]);
      assert.equal(r.code, 1);
      const doc = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
      assert.deepEqual(doc.checks.filter((c) => !c.ok).map((c) => [c.name, c.fix]), [["state-dir", `chown root:root ${layout.stateDir} && chmod 0700 ${layout.stateDir} (or re-run podspawn install)`]]);
      const text = await node.podspawn(["doctor"]);
      assert.equal(text.stdout.split("\n").filter((l) => l.startsWith("fix ")).length, 1);
    } finally {
      await chmod(layout.stateDir, 0o700);
    }
    assert.equal((await node.podspawn(["doctor"])).code, 0);
  });
});

describe("ssh -N", () => {
  it("holds nothing: an authenticated connection without a session starts no session and no container", async () => {
    const log = `${sshdOptions.dir}/sshd.log`;
    const from = (await stat(log)).size;
    const child = spawn("ssh", [...node.sshArgs(QUIET), "-N", `${QUIET}@127.0.0.1`], { stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    try {
      const accepted = await eventually(async () => (await readFile(log)).subarray(from).toString("utf8").includes(`Accepted publickey for ${QUIET}`), 15_000);
      assert.ok(accepted, "sshd accepted the key: the connection is up");
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await within(exited, 0, -1), -1, "ssh -N is still connected");
      assert.equal((await node.status()).sessions.some((s) => s.user === QUIET), false);
      assert.equal(node.containers().some((l) => l.includes(`.${QUIET}.`)), false, "no container");
      assert.equal(node.networks().includes(`${INSTANCE}.${QUIET}`), false, "no network");
    } finally {
      child.kill();
      await exited;
    }
  });
});

describe("max_lifetime warning", () => {
  before(async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG.replace("grace_period: 3s", "grace_period: 3s\n  max_lifetime: 9m"));
    await node.reload();
  });
  after(async () => {
    await node.writeConfig(DEFAULT_TEST_CONFIG);
    await node.reload();
  });

  it("warns a new session in one stderr line when less than 10 minutes remain; stdout stays the program's", async () => {
    const r = await node.ssh(OP, [...project("short"), "echo out"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "podspawn: this environment will be removed in 9 min (max_lifetime)\n");
  });

  it("shows it on a terminal too", async () => {
    const r = await node.ssh(OP, ["-tt", ...project("short"), "echo out"], { input: "" });
    // The pty turns our newline into CR LF, so the line ends where the terminal expects.
    assert.match(r.stdout, /^podspawn: this environment will be removed in \d+ min \(max_lifetime\)\r\nout\r/);
  });

  it("leaves file transfers byte-exact: scp -O shows the line on stderr, sftp never sees it", async () => {
    const data = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    const local = join(node.clientDir, "lifetime.bin");
    await writeFile(local, data);
    const scpArgs = [...node.sshArgs(OP).map((a) => (a === "-p" ? "-P" : a)), ...project("short")];
    // Legacy scp runs `scp -t` as a command session: its stdout is the protocol, stderr is shown.
    const up = await runCommand("scp", [...scpArgs, "-O", local, `${OP}@127.0.0.1:lifetime.bin`]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /^podspawn: this environment will be removed in \d+ min \(max_lifetime\)\n$/);
    const down = await runCommand("scp", [...scpArgs, "-O", `${OP}@127.0.0.1:lifetime.bin`, `${local}.scp`]);
    assert.equal(down.code, 0, down.stderr);
    assert.ok((await readFile(`${local}.scp`)).equals(data));
    // sftp is a subsystem: sshd discards a subsystem's stderr, so the line cannot reach it at all.
    const batch = join(node.clientDir, "lifetime.batch");
    await writeFile(batch, `get lifetime.bin ${local}.sftp\n`);
    const r = await runCommand("sftp", [...scpArgs, "-b", batch, `${OP}@127.0.0.1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readFile(`${local}.sftp`)).equals(data));
  });
});
