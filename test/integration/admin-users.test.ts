import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultAddUserDeps, makeAddUserCommand } from "../../agent/src/cli/commands/users/add-user.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { parseControlRequest, type ControlRequest } from "../../agent/src/core/protocol/control-protocol.js";
import { cleanupInstance, cli, deleteAccount, makeBundleDir, requireRoot, sshKeygen, userExists } from "./admin-helpers.js";
import { main } from "../../agent/src/cli/main.js";
import { PassThrough } from "node:stream";

const layout = layoutFor("podspawn-adm2");
const ACCOUNTS = ["pst-u1", "pst-u2", "pst-u3", "pst-u4", "pst-u5", "pst-f1", "pst-d1"];
let dir = "";
let bundleDir = "";
const keys: string[] = [];

function fileMode(path: string): string {
  const st = statSync(path);
  return `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
}
function gidOf(group: string): number {
  return Number(execFileSync("getent", ["group", group], { encoding: "utf8" }).split(":")[2]);
}
function snapshot(): string {
  const lines: string[] = [];
  for (const d of [layout.usersDir, layout.authorizedKeysDir]) {
    for (const f of execFileSync("ls", ["-A", d], { encoding: "utf8" }).split("\n").filter(Boolean)) lines.push(`${d}/${f}: ${readFileSync(join(d, f), "utf8")}`);
  }
  for (const a of ACCOUNTS) lines.push(`${a}: ${userExists(a)}`);
  return lines.join("\n");
}

/** A stand-in daemon on the instance's control socket, recording requests. */
async function fakeDaemon(sessions: { user: string }[]): Promise<{ server: Server; requests: ControlRequest[] }> {
  const requests: ControlRequest[] = [];
  const server = createServer((sock) => {
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("data", (c: string) => {
      buf += c;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const req = parseControlRequest(buf.slice(0, nl));
      requests.push(req);
      const full = sessions.map((s) => ({ user: s.user, project: "default", container: `podspawn-${s.user}-default`, since: "2025-01-01T00:00:00Z" }));
      const reply = req.op === "status" ? { ok: true, sessions: full, containers: [] } : req.op === "evict" ? { ok: true, removed: 1 } : { ok: true };
      sock.end(JSON.stringify(reply) + "\n");
    });
  });
  rmSync(layout.controlSocket, { force: true });
  await new Promise<void>((res) => server.listen(layout.controlSocket, res));
  return { server, requests };
}

describe("pod users (real accounts, as root)", () => {
  before(async () => {
    requireRoot();
    cleanupInstance(layout, ACCOUNTS);
    dir = mkdtempSync(join(tmpdir(), "pst-users-"));
    for (let i = 0; i < 8; i++) keys.push(sshKeygen(join(dir, `k${i}`), `pst-key-${i}`));
    bundleDir = await makeBundleDir();
    const r = await cli(layout, "install", "--bundle-dir", bundleDir, "--node", "/usr/bin/node");
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => {
    cleanupInstance(layout, ACCOUNTS);
    rmSync(dir, { recursive: true, force: true });
    rmSync(bundleDir, { recursive: true, force: true });
  });

  it("add-user creates a host account that sshd accepts and is never in docker", async () => {
    const r = await cli(layout, "add-user", "pst-u1", "--key", keys[0] as string, "--key-file", join(dir, "k1.pub"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /created pod user pst-u1 with 2 key\(s\)/);
    const pw = execFileSync("getent", ["passwd", "pst-u1"], { encoding: "utf8" }).trim().split(":");
    assert.equal(pw[5], "/");
    assert.equal(pw[6], "/bin/sh");
    assert.equal(execFileSync("getent", ["shadow", "pst-u1"], { encoding: "utf8" }).split(":")[1], "*");
    const groups = execFileSync("id", ["-nG", "pst-u1"], { encoding: "utf8" }).trim().split(" ");
    assert.deepEqual(groups.sort(), ["podspawn-users", "pst-u1"]);
  });

  it("writes the registry (root:podspawn-keys 0640) and the rendered file (root:<user group> 0640)", () => {
    const reg = join(layout.usersDir, "pst-u1.keys");
    assert.equal(fileMode(reg), `640 0:${gidOf("podspawn-keys")}`);
    const canonical = [keys[0], keys[1]].map((k) => (k as string).split(" ").slice(0, 2).join(" ") + "\n").join("");
    assert.equal(readFileSync(reg, "utf8"), canonical);
    const rendered = join(layout.authorizedKeysDir, "pst-u1");
    assert.equal(fileMode(rendered), `640 0:${gidOf("pst-u1")}`);
    const lines = readFileSync(rendered, "utf8").trim().split("\n");
    assert.equal(lines.length, 2);
    for (const l of lines) assert.match(l, /^restrict,agent-forwarding,pty,command="\/usr\/local\/lib\/podspawn-adm2\/bin\/podspawn spawn --user pst-u1" ssh-ed25519 \S+$/);
  });

  it("the keys user can run auth-keys for the user through the installed command; the pod user cannot read the registry", () => {
    const out = execFileSync("su", ["-s", "/bin/sh", "podspawn-keys", "-c", `${layout.command} auth-keys pst-u1`], { encoding: "utf8" });
    assert.equal(out, readFileSync(join(layout.authorizedKeysDir, "pst-u1"), "utf8"));
    assert.throws(() => execFileSync("su", ["-s", "/bin/sh", "pst-u1", "-c", `cat ${layout.usersDir}/pst-u1.keys`], { stdio: "pipe" }));
    // ... but can read its own rendered file, as sshd does with the user's privileges.
    execFileSync("su", ["-s", "/bin/sh", "pst-u1", "-c", `cat ${layout.authorizedKeysDir}/pst-u1`], { stdio: "pipe" });
  });

  it("add-user again with a known key changes nothing; with a new key adds it", async () => {
    const same = await cli(layout, "add-user", "pst-u1", "--key", keys[0] as string);
    assert.match(same.stdout, /nothing to change/);
    const more = await cli(layout, "add-user", "pst-u1", "--key", keys[2] as string);
    assert.match(more.stdout, /added 1 key\(s\), now 3/);
  });

  it("refuses a key owned by another user, naming them, and changes nothing", async () => {
    const before = snapshot();
    const r = await cli(layout, "add-user", "pst-u2", "--key", keys[3] as string, "--key", keys[0] as string);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already belongs to pod user "pst-u1"/);
    assert.equal(snapshot(), before);
  });

  it("refuses bad input of every kind without losing anything", async () => {
    const before = snapshot();
    const cases: [string[], RegExp][] = [
      [["add-user", "Bad-Name", "--key", keys[3] as string], /NAME: "Bad-Name" is not a valid username/],
      [["add-user", "root", "--key", keys[3] as string], /reserved/],
      [["add-user", "pst-u2", "--key", `${keys[3]}\n${keys[4]}`], /line break/],
      [["add-user", "pst-u2", "--key", keys[3] as string, "--key", "ssh-ed25519 AAAA"], /--key #2: malformed/],
      [["add-user", "pst-u2", "--key-file", "/nonexistent/k.pub"], /cannot read/],
      [["add-user", "pst-u2", "--github=-bad-"], /not a GitHub login/],
      [["add-user", "pst-u2", "--github", "a--b"], /not a GitHub login/],
      [["add-user", "pst-u2"], /no keys given/],
    ];
    for (const [argv, problem] of cases) {
      const r = await cli(layout, ...argv);
      assert.notEqual(r.code, 0, argv.join(" "));
      assert.match(r.stderr, problem, argv.join(" "));
    }
    assert.equal(snapshot(), before);
  });

  it("--github goes through the fetcher, all or nothing", async () => {
    const fetched: string[] = [];
    const cmd = makeAddUserCommand((io) => ({ ...defaultAddUserDeps(io), fetchGithub: async (login) => (fetched.push(login), `${keys[3]}\n# comment\n${keys[4]}\n`), githubAccountId: async () => 583231 }));
    const out = new PassThrough();
    const code = await cmd.run(["pst-u2", "--github", "octocat"], { stdout: out, stderr: new PassThrough(), env: {}, layout });
    assert.equal(code, 0);
    assert.deepEqual(fetched, ["octocat"]);
    assert.equal(readFileSync(join(layout.usersDir, "pst-u2.keys"), "utf8").split("\n").filter(Boolean).length, 2);
    assert.equal(readFileSync(join(layout.etcDir, "github-ids"), "utf8"), "octocat 583231\n", "the account id is recorded");
    const bad = makeAddUserCommand((io) => ({ ...defaultAddUserDeps(io), fetchGithub: async () => `${sshKeygen(join(dir, "k9"))}\nssh-rsa AAAAB3NzaC1yc2E=\n`, githubAccountId: async () => 583231 }));
    const before = snapshot();
    await assert.rejects(bad.run(["pst-u5", "--github", "octocat"], { stdout: out, stderr: out, env: {}, layout }), /--github octocat:2/);
    assert.equal(snapshot(), before);
  });

  it("refuses to take over a host account that is not a pod user, or one in docker", async () => {
    execFileSync("useradd", ["--no-create-home", "pst-f1"]);
    execFileSync("useradd", ["--no-create-home", "--user-group", "--groups", "podspawn-users,docker", "pst-d1"]);
    const f = await cli(layout, "add-user", "pst-f1", "--key", keys[5] as string);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /host account "pst-f1" exists and is not a pod user/);
    const d = await cli(layout, "add-user", "pst-d1", "--key", keys[5] as string);
    assert.match(d.stderr, /docker group, which is root-equivalent/);
    const rm = await cli(layout, "remove-user", "pst-f1");
    assert.match(rm.stderr, /not a pod user .*refusing to remove it/);
    assert.ok(userExists("pst-f1"));
    deleteAccount("pst-f1");
    deleteAccount("pst-d1");
  });

  it("list-users shows names, key counts and fingerprints, also as JSON", async () => {
    const text = await cli(layout, "list-users");
    assert.match(text.stdout, /^pst-u1 +3 +SHA256:\S+ \(ssh-ed25519\)$/m);
    const json = JSON.parse((await cli(layout, "list-users", "--json")).stdout) as { name: string; keys: number; fingerprints: string[]; account: boolean }[];
    const u1 = json.find((u) => u.name === "pst-u1");
    const fp = execFileSync("ssh-keygen", ["-lf", join(dir, "k0.pub")], { encoding: "utf8" }).split(" ")[1];
    assert.equal(u1?.keys, 3);
    assert.ok(u1?.fingerprints.some((f) => f.startsWith(`${fp} `)));
    assert.equal(u1?.account, true);
  });

  it("notifies a running daemon with reload after a change", async () => {
    const { server, requests } = await fakeDaemon([]);
    try {
      const r = await cli(layout, "add-user", "pst-u3", "--key", keys[6] as string);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(requests, [{ op: "reload" }]);
    } finally {
      server.close();
    }
  });

  it("remove-user refuses with live sessions unless --force, then evicts and deletes everything", async () => {
    const { server, requests } = await fakeDaemon([{ user: "pst-u3" }]);
    try {
      const refused = await cli(layout, "remove-user", "pst-u3");
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /pst-u3 has 1 live session\(s\).*--force/);
      assert.ok(userExists("pst-u3"));
      assert.ok(existsSync(join(layout.usersDir, "pst-u3.keys")));
      const forced = await cli(layout, "remove-user", "pst-u3", "--force");
      assert.equal(forced.code, 0, forced.stderr);
      assert.deepEqual(requests.map((r) => r.op), ["status", "status", "reload", "evict"]);
      assert.deepEqual(requests[3], { op: "evict", user: "pst-u3" });
      assert.ok(!userExists("pst-u3"));
      assert.ok(!existsSync(join(layout.usersDir, "pst-u3.keys")));
      assert.ok(!existsSync(join(layout.authorizedKeysDir, "pst-u3")));
    } finally {
      server.close();
      rmSync(layout.controlSocket, { force: true });
    }
  });

  it("sync converges to the file, is idempotent, and a bad file changes nothing", async () => {
    const file = join(dir, "users.yaml");
    writeFileSync(file, `version: 1\nusers:\n  - name: pst-u1\n    keys: ["${keys[0]}"]\n  - name: pst-u4\n    keys:\n      - ${keys[4]}\n`);
    // pst-u2 holds keys[3] and keys[4]; listing keys[4] for pst-u4 is fine because pst-u2 goes.
    const dry = await cli(layout, "sync", "--file", file, "--dry-run");
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would create pst-u4/);
    assert.match(dry.stdout, /would update pst-u1: \+0 -2/);
    assert.match(dry.stdout, /would remove pst-u2/);
    assert.ok(userExists("pst-u2") && !userExists("pst-u4"));

    const r = await cli(layout, "sync", "--file", file);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!userExists("pst-u2") && userExists("pst-u4"));
    assert.equal(readFileSync(join(layout.authorizedKeysDir, "pst-u1"), "utf8").split("\n").filter(Boolean).length, 1);
    const again = await cli(layout, "sync", "--file", file);
    assert.match(again.stdout, /nothing to change \(2 user\(s\) up to date\)/);

    const before = snapshot();
    writeFileSync(file, `version: 1\nusers:\n  - name: pst-u5\n    keys: ["${keys[2]}"]\n  - name: pst-u1\n    keys:\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n`);
    const bad = await cli(layout, "sync", "--file", file);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /users\.yaml:7: users\[1\]\.keys\[0\]: malformed ssh-ed25519 key/);
    assert.equal(snapshot(), before);
  });

  it("the full CLI dispatcher lists the admin commands", async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    await main(["--help"], { stdout: out, stderr: out, layout, env: {} });
    for (const name of ["install", "server-setup", "add-user", "remove-user", "list-users", "sync", "auth-keys"]) assert.match(Buffer.concat(chunks).toString(), new RegExp(`^  ${name} `, "m"));
  });
});
