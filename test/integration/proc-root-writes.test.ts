/**
 * DockerRuntime.writeFiles straight through /proc/<init pid>/root (ProcRootWriter) against the
 * real engine: the same account as the archive's, really without the archive, and nothing outside
 * the container however hostile its tree. Every check reads the container with its own shell (nsenter) as
 * root, never through the code under test. Needs root and Docker; fails loudly without them.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { DockerRuntime, type FileWriteEvent } from "../../agent/src/adapters/docker/docker-runtime.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import { containerSpec } from "../../agent/src/core/container/container-spec.js";
import { NO_NETWORK, pooledContainerSpec, poolTemplateOf } from "../../agent/src/core/container/pool-spec.js";
import { AccountProvisioner } from "../../agent/src/daemon/environments/account-provisioner.js";
import type { TarEntry } from "../../agent/src/support/tar.js";
import { runCommand } from "../../scripts/local-node.js";

const INSTANCE = `podspawn-pw${randomBytes(3).toString("hex")}`;
const engine = new DockerRuntime();
const created: string[] = [];

/** Records how each write went; `initProcessOf` stands in for the engine's pid where a test says. */
function recorded(opts: ConstructorParameters<typeof DockerRuntime>[0] & object = {}): { runtime: DockerRuntime; events: FileWriteEvent[] } {
  const events: FileWriteEvent[] = [];
  return { runtime: new DockerRuntime({ ...opts, onWrite: (e) => events.push(e) }), events };
}

/** A pooled container of `image`, hardened exactly as the daemon makes them, started (on no network: writes do not care). */
async function pooled(image: string, start = true): Promise<string> {
  const template = poolTemplateOf(containerSpec(INSTANCE, "pooled", "default", { ...DEFAULT_NODE_CONFIG, image }));
  assert.ok(template);
  const spec = { ...pooledContainerSpec(INSTANCE, template, (await engine.imageId(image)) ?? "?", randomBytes(4).toString("hex")), network: NO_NETWORK };
  const id = await engine.create(spec);
  created.push(id);
  if (start) await engine.start(id);
  return id;
}

/**
 * A shell of the container's own image run as the test's root, with every capability, in the
 * container's mount namespace: `docker exec` inherits the hardening (no capabilities, and
 * no-new-privileges forbids --privileged), so it could not read a user's 0600 file.
 */
async function sh(id: string, script: string): Promise<string> {
  const inspect = await runCommand("docker", ["inspect", "-f", "{{.State.Pid}}", id]);
  assert.equal(inspect.code, 0, inspect.stderr);
  const r = await runCommand("nsenter", ["-t", inspect.stdout.trim(), "-m", "-r", "--", "/bin/sh", "-c", script]);
  assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

/** Type, mode, owner and content (a checksum) of each path, and the mtime of those the entries name. */
async function shapeOf(id: string, paths: readonly string[], entryPaths: ReadonlySet<string>): Promise<string[]> {
  const lines: string[] = [];
  for (const p of paths) {
    const stat = (await sh(id, `stat -c '%F %a %u:%g %Y' '/${p}'`)).trim().split(" ");
    const mtime = stat.pop();
    const sum = stat[0] === "regular" ? (await sh(id, `md5sum '/${p}'`)).split(" ")[0] : "-";
    lines.push(`${p} ${stat.join(" ")} ${sum}${entryPaths.has(p) ? ` mtime=${mtime}` : ""}`);
  }
  return lines;
}

/** Every path the entries name, and each parent on the way. */
function pathsOf(entries: readonly TarEntry[]): string[] {
  const all = new Set<string>();
  for (const e of entries) {
    const parts = e.path.split("/");
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join("/"));
  }
  return [...all].sort();
}

/**
 * The account a claim writes (the daemon's own provisioner, reading the image through `reader`),
 * then the inner sshd's kind of files over it: existing directories and files.
 */
async function claimShape(writer: DockerRuntime, reader: DockerRuntime, id: string): Promise<TarEntry[]> {
  const seen: TarEntry[] = [];
  const spy = new Proxy(reader, {
    get: (target, key) => (key === "writeFiles" ? (cid: string, entries: readonly TarEntry[]) => (seen.push(...entries), writer.writeFiles(cid, entries)) : Reflect.get(target, key, target)),
  });
  await new AccountProvisioner(spy, () => 101_234).provision(id, "img", "alice", { homeVolume: null }, { project: "default", claimedAtMs: 1 });
  const root = { uid: 0, gid: 0 };
  const again: TarEntry[] = [
    { path: "etc/podspawn", type: "dir", mode: 0o755, ...root },
    { path: "etc/podspawn/sshd", type: "dir", mode: 0o700, ...root },
    { path: "etc/podspawn/sshd/key", type: "file", mode: 0o600, uid: 101_234, gid: 101_234, data: Buffer.from("secret\n") },
    { path: "etc/passwd", type: "file", mode: 0o644, ...root, data: Buffer.from("root:x:0:0:root:/root:/bin/sh\n") },
  ];
  await writer.writeFiles(id, again);
  return [...seen, ...again];
}

after(async () => {
  for (const id of created) await engine.remove(id);
});

describe("writeFiles into a running runc container, through /proc/<pid>/root", { timeout: 180_000 }, () => {
  for (const image of ["podspawn/default:bookworm", "podspawn/busybox:test"]) {
    it(`writes a claimed account with the archive's type, mode, owner, mtime and content on every path (${image})`, async () => {
      const viaArchive = recorded({ initProcessOf: async () => null });
      // The archive is out of reach of this one: its engine socket does not exist.
      const direct = recorded({ socketPath: "/nonexistent/docker.sock", initProcessOf: (cid) => engine.initProcess(cid) });
      const [a, d] = [await pooled(image), await pooled(image)];
      const entries = await claimShape(viaArchive.runtime, engine, a);
      await claimShape(direct.runtime, engine, d);
      assert.deepEqual(direct.events.map((e) => e.via), ["direct", "direct"]);
      assert.deepEqual(viaArchive.events.map((e) => e.via), ["archive", "archive"]);
      const paths = pathsOf(entries);
      const entryPaths = new Set(entries.map((e) => e.path));
      const marker = (lines: string[]): string[] => lines.map((l) => (l.startsWith("etc/podspawn/ready ") ? l.replace(/ [0-9a-f]{32} /, " <md5> ") : l));
      const shape = marker(await shapeOf(d, paths, entryPaths));
      assert.deepEqual(shape, marker(await shapeOf(a, paths, entryPaths)));
      assert.ok(shape.includes("home/alice directory 750 101234:101234 - mtime=0"), shape.join("\n"));
      // The marker differs only by the container id it names.
      assert.equal((await sh(d, "cat /etc/podspawn/ready")).replace(d, "<id>"), (await sh(a, "cat /etc/podspawn/ready")).replace(a, "<id>"));
    });
  }

  it("leaves a container that is not running to the archive", async () => {
    const { runtime, events } = recorded();
    const id = await pooled("podspawn/busybox:test", false);
    await runtime.writeFiles(id, [{ path: "etc/written", type: "file", mode: 0o640, uid: 7, gid: 8, data: Buffer.from("archived\n") }]);
    assert.deepEqual(events, [{ container: id, via: "archive", reason: "the container is not running", partial: false }]);
    await engine.start(id);
    assert.equal(await sh(id, "stat -c '%a %u:%g' /etc/written; cat /etc/written"), "640 7:8\narchived\n");
  });

  it("leaves a gVisor container to the archive", async () => {
    const id = await pooled("podspawn/busybox:test");
    const { runtime, events } = recorded({ initProcessOf: async (cid) => ({ pid: (await engine.initProcess(cid))?.pid ?? 0, ociRuntime: "runsc" }) });
    await runtime.writeFiles(id, [{ path: "etc/written", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("archived\n") }]);
    assert.equal(events[0]?.via, "archive");
    assert.match(events[0]?.via === "archive" ? events[0].reason : "", /runsc/);
    assert.equal(await sh(id, "cat /etc/written"), "archived\n");
  });

  it("never writes through a pid that is not the container's (here the test's own, whose root is the host's): the archive writes inside", async () => {
    const id = await pooled("podspawn/busybox:test");
    const name = `podspawn-pidtest-${randomBytes(4).toString("hex")}`;
    const { runtime, events } = recorded({ initProcessOf: async () => ({ pid: process.pid, ociRuntime: "runc" }) });
    // /run: a host directory the writer would otherwise trust (root's, 0755), unlike /tmp.
    await runtime.writeFiles(id, [{ path: `run/${name}`, type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("inside\n") }]);
    assert.equal(existsSync(`/run/${name}`), false, "nothing on the host");
    assert.match(events[0]?.via === "archive" ? events[0].reason : "direct", /is not the container's init/);
    assert.equal(await sh(id, `cat /run/${name}`), "inside\n");
  });

  it("refuses entry paths that are absolute, climb or have empty parts, before touching anything", async () => {
    const { runtime, events } = recorded();
    for (const path of ["/etc/x", "etc/../x", "etc//x", "etc/x/", "./x", ""]) {
      await assert.rejects(runtime.writeFiles("0123456789ab", [{ path, type: "file", mode: 0o644, uid: 0, gid: 0 }]), (err: Error) => err.message.startsWith(`writeFiles entry path ${JSON.stringify(path)} must`));
    }
    assert.deepEqual(events, [], "neither path was tried");
  });
});

describe("writeFiles into a hostile container tree stays inside the container", { timeout: 180_000 }, () => {
  const name = `podspawn-pw-evil-${randomBytes(3).toString("hex")}`;
  const escape = `/tmp/podspawn-escape-${randomBytes(4).toString("hex")}`;
  let id = "";
  before(async () => {
    // What a naive write would land in: they exist on the host, so it would succeed.
    for (const d of ["podspawn", "home", "etc"]) await mkdir(`${escape}/${d}`, { recursive: true });
    await writeFile(`${escape}/passwd`, "host\n");
    // Plain `docker run`: root inside with the default capabilities, free to shape its own tree.
    const r = await runCommand("docker", ["run", "-d", "--name", name, "--network", "none", "podspawn/busybox:test", "sleep", "600"]);
    assert.equal(r.code, 0, r.stderr);
    id = r.stdout.trim();
    await sh(id, [`ln -s ${escape}/podspawn /etc/podspawn`, `ln -s ${escape}/home /home`, "rm /etc/passwd", `ln -s ${escape}/passwd /etc/passwd`, "mkfifo /etc/fifo", "mkdir -p /etc/motd/inner", "echo keep > /etc/motd/inner/f", `ln -s ${escape}/etc /etc/linked`].join(" && "));
  });
  after(async () => {
    await runCommand("docker", ["rm", "-f", name]);
    await rm(escape, { recursive: true, force: true });
  });

  async function hostUntouched(): Promise<void> {
    for (const d of ["podspawn", "home", "etc"]) assert.deepEqual(await readdir(`${escape}/${d}`), [], `${escape}/${d} stays empty`);
    assert.equal(await readFile(`${escape}/passwd`, "utf8"), "host\n");
  }

  const file = (path: string, data: string): TarEntry => ({ path, type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from(data) });

  it("replaces a symlinked /etc/passwd inside the container, directly, and the host file it names is unchanged", async () => {
    const { runtime, events } = recorded();
    await runtime.writeFiles(id, [file("etc/passwd", "root:x:0:0::/:/bin/sh\n")]);
    await hostUntouched();
    assert.equal(events[0]?.via, "direct");
    assert.equal(await sh(id, "stat -c %F /etc/passwd; cat /etc/passwd"), "regular file\nroot:x:0:0::/:/bin/sh\n");
  });

  it("replaces a FIFO where a file goes without ever opening it", async () => {
    // A reader blocked on the FIFO: any open for writing would release it and leave /tmp/fifo-done.
    await runCommand("docker", ["exec", "-d", id, "sh", "-c", "cat /etc/fifo > /tmp/fifo-got; echo $? > /tmp/fifo-done"]);
    await sh(id, "for i in $(seq 1 50); do pidof cat >/dev/null && break; sleep 0.1; done");
    const { runtime, events } = recorded();
    await runtime.writeFiles(id, [file("etc/fifo", "now a file\n")]);
    assert.equal(events[0]?.via, "direct");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await sh(id, "stat -c %F /etc/fifo; cat /etc/fifo; ls /tmp/fifo-done 2>/dev/null || echo never-opened"), "regular file\nnow a file\nnever-opened\n");
  });

  it("leaves a /etc/podspawn that is a symlink to the host's /tmp to the archive, which makes a directory inside", async () => {
    const { runtime, events } = recorded();
    await runtime.writeFiles(id, [{ path: "etc/podspawn", type: "dir", mode: 0o755, uid: 0, gid: 0 }, file("etc/podspawn/ready", "marker\n")]);
    await hostUntouched();
    assert.deepEqual(events.map((e) => e.via === "archive" && e.reason), ["/etc/podspawn is not a directory"]);
    assert.equal(await sh(id, "stat -c %F /etc/podspawn; cat /etc/podspawn/ready"), "directory\nmarker\n");
  });

  it("never follows a symlinked parent it does not write (/etc/linked -> host): the archive follows it inside the container only", async () => {
    const { runtime, events } = recorded();
    await sh(id, `mkdir -p ${escape}/etc`);
    await runtime.writeFiles(id, [file("etc/linked/x", "in\n")]);
    await hostUntouched();
    assert.deepEqual(events.map((e) => e.via === "archive" && e.reason), ["/etc/linked is not a directory"]);
    assert.equal(await sh(id, `cat ${escape}/etc/x`), "in\n", "written in the container's own copy of that path");
  });

  it("never writes under a /home that is a symlink to the host: the archive writes inside the container", async () => {
    const { runtime, events } = recorded();
    await sh(id, `mkdir -p ${escape}/home`);
    await runtime.writeFiles(id, [{ path: "home/alice", type: "dir", mode: 0o750, uid: 101_234, gid: 101_234 }, file("home/alice/.profile", "p\n")]);
    await hostUntouched();
    assert.deepEqual(events.map((e) => e.via === "archive" && e.reason), ["/home is not a directory"]);
    assert.equal(await sh(id, `stat -c '%a %u' ${escape}/home/alice; cat /home/alice/.profile`), "750 101234\np\n");
  });

  it("leaves a directory where a file goes to the archive (which replaces it), inside the container", async () => {
    const { runtime, events } = recorded();
    await runtime.writeFiles(id, [file("etc/motd", "hello\n")]);
    await hostUntouched();
    assert.deepEqual(events.map((e) => e.via === "archive" && e.reason), ["/etc/motd is a directory"]);
    assert.equal(await sh(id, "stat -c %F /etc/motd; cat /etc/motd"), "regular file\nhello\n");
  });

  it("leaves a directory that is not root's own (writable by others) to the archive", async () => {
    await sh(id, "mkdir -p /srv/open && chmod 777 /srv/open");
    const { runtime, events } = recorded();
    await runtime.writeFiles(id, [file("srv/open/f", "x\n")]);
    assert.deepEqual(events.map((e) => e.via === "archive" && e.reason), ["/srv/open is not root's own directory"]);
    assert.equal(await sh(id, "cat /srv/open/f"), "x\n");
  });
});

describe("writeFiles cost, archive vs direct (20 runs each, account shape)", { timeout: 180_000 }, () => {
  it("reports both medians", async (t) => {
    const id = await pooled("podspawn/default:bookworm");
    const archive = new DockerRuntime({ initProcessOf: async () => null });
    const direct = recorded();
    const entries = (await claimShape(archive, engine, id)).slice(0, -4); // the account alone
    let runs = 0;
    const median = async (r: DockerRuntime): Promise<number> => {
      const ms: number[] = [];
      for (let i = 0; i < 20; i++) {
        // A claim's shape each time: a new home (an existing one is the user's: left to the archive).
        const fresh = entries.map((e) => ({ ...e, path: e.path.replace(/^home\/alice/, `home/u${++runs}`) }));
        const t0 = performance.now();
        await r.writeFiles(id, fresh);
        ms.push(performance.now() - t0);
      }
      ms.sort((x, y) => x - y);
      return ((ms[9] ?? 0) + (ms[10] ?? 0)) / 2;
    };
    const a = await median(archive);
    const d = await median(direct.runtime);
    assert.deepEqual(new Set(direct.events.map((e) => e.via)), new Set(["direct"]));
    t.diagnostic(`writeFiles of the account shape (${entries.length} entries): archive median ${a.toFixed(1)} ms, direct median ${d.toFixed(1)} ms`);
  });
});
