import { testPodIds } from "./helpers/pod-ids.js";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeRuntime } from "../../agent/src/adapters/fake/fake-runtime.js";
import { containerSpec, type ContainerSpec } from "../../agent/src/core/container/container-spec.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import { READY_MARKER_PATH, renderReadyMarker } from "../../agent/src/core/container/ready-marker.js";
import type { TarEntry } from "../../agent/src/support/tar.js";
import { AccountProvisioner } from "../../agent/src/daemon/environments/account-provisioner.js";

const IMAGE = "podspawn/test:fake";
const OTHER_IMAGE = "podspawn/other:fake";

function image(extra: [string, string][] = []): Map<string, Buffer> {
  return new Map([
    ["/etc/passwd", Buffer.from("root:x:0:0:root:/root:/bin/sh\n")],
    ["/etc/group", Buffer.from("root:x:0:\n")],
    ["/bin/sh", Buffer.alloc(0)],
    ["/etc/skel/.profile", Buffer.from("PS1=pod\n")],
    ["/etc/skel/.bashrc", Buffer.from("alias ll='ls -l'\n")],
    ...extra.map(([p, d]): [string, Buffer] => [p, Buffer.from(d)]),
  ]);
}

/** The fake engine, recording every archive call the provisioner makes. */
class Recording extends FakeRuntime {
  readonly reads: string[][] = [];
  readonly writes: TarEntry[][] = [];
  override async readFiles(id: string, paths: readonly string[]): Promise<Map<string, Buffer>> {
    this.reads.push([...paths]);
    return super.readFiles(id, paths);
  }
  override async writeFiles(id: string, entries: readonly TarEntry[]): Promise<void> {
    this.writes.push([...entries]);
    return super.writeFiles(id, entries);
  }
}

function setup(): { runtime: Recording; accounts: AccountProvisioner } {
  const runtime = new Recording(new Map([[IMAGE, image()], [OTHER_IMAGE, image([["/bin/bash", ""]])]]));
  return { runtime, accounts: new AccountProvisioner(runtime, testPodIds()) };
}

function spec(user: string, over: Partial<typeof DEFAULT_NODE_CONFIG> = {}): ContainerSpec {
  return containerSpec("pst", user, "default", { ...DEFAULT_NODE_CONFIG, image: IMAGE, ...over });
}

async function created(runtime: FakeRuntime, s: ContainerSpec): Promise<string> {
  await runtime.ensureNetwork({ name: s.network, labels: {}, subnet: null });
  return runtime.create(s);
}

function file(runtime: FakeRuntime, id: string, path: string): string | undefined {
  return runtime.containers.get(id)?.files.get(path)?.toString("utf8");
}

describe("AccountProvisioner.provision", () => {
  it("writes passwd, group, home, skeleton and the ready marker in one archive call, the marker last", async () => {
    const { runtime, accounts } = setup();
    const id = await created(runtime, spec("alice"));
    const account = await accounts.provision(id, "img-1", "alice", spec("alice"));
    assert.deepEqual(account, { name: "alice", uid: 101001, gid: 101001, home: "/home/alice", shell: "/bin/sh" });
    assert.equal(runtime.writes.length, 1);
    assert.deepEqual(
      runtime.writes[0]?.map((e) => `${e.type} ${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid}`),
      ["file etc/passwd 644 0:0", "file etc/group 644 0:0", "dir home/alice 750 101001:101001", "file home/alice/.bashrc 644 101001:101001", "file home/alice/.profile 644 101001:101001", "dir etc/podspawn 755 0:0", "file etc/podspawn/ready 644 0:0"],
    );
    assert.match(file(runtime, id, "/etc/passwd") ?? "", /^alice:x:101001:101001:podspawn user:\/home\/alice:\/bin\/sh$/m);
    assert.equal(file(runtime, id, "/home/alice/.profile"), "PS1=pod\n");
    assert.equal(file(runtime, id, READY_MARKER_PATH), renderReadyMarker(id, account));
    assert.equal(runtime.containers.get(id)?.running, false, "written before any start");
  });

  it("reads the image's passwd, group and skeleton once per image id, not once per container", async () => {
    const { runtime, accounts } = setup();
    for (const user of ["alice", "bob", "carol"]) await accounts.provision(await created(runtime, spec(user)), "img-1", user, spec(user));
    assert.equal(runtime.reads.filter((r) => r.includes("/etc/passwd")).length, 1);
    // Another image (the tag moved, or another image configured) is read afresh: it has bash.
    const s = spec("dave", { image: OTHER_IMAGE });
    const account = await accounts.provision(await created(runtime, s), "img-2", "dave", s);
    assert.equal(runtime.reads.filter((r) => r.includes("/etc/passwd")).length, 2);
    assert.equal(account.shell, "/bin/bash");
  });

  it("does not write the skeleton over a persistent home that already has one", async () => {
    const { runtime, accounts } = setup();
    const persistent = spec("alice", { session: { ...DEFAULT_NODE_CONFIG.session, mode: "persistent" } });
    const first = await created(runtime, persistent);
    await accounts.provision(first, "img-1", "alice", persistent);
    await runtime.writeFiles(first, [{ path: "home/alice/.profile", type: "file", mode: 0o644, uid: 101001, gid: 101001, data: Buffer.from("mine\n") }]);
    await runtime.remove(first);
    const second = await created(runtime, persistent);
    await accounts.provision(second, "img-1", "alice", persistent);
    assert.equal(file(runtime, second, "/home/alice/.profile"), "mine\n");
    assert.deepEqual(runtime.writes.at(-1)?.map((e) => e.path), ["etc/passwd", "etc/group", "home/alice", "etc/podspawn", "etc/podspawn/ready"]);
  });
});

describe("AccountProvisioner.readMarker", () => {
  it("gives back the account the provisioner wrote into that container", async () => {
    const { runtime, accounts } = setup();
    const id = await created(runtime, spec("alice"));
    const account = await accounts.provision(id, "img-1", "alice", spec("alice"));
    assert.deepEqual(await accounts.readMarker(id, "alice"), account);
  });

  it("gives null for a container created but never provisioned (a daemon that crashed half-way)", async () => {
    const { runtime, accounts } = setup();
    const id = await created(runtime, spec("alice"));
    assert.equal(await accounts.readMarker(id, "alice"), null);
  });

  it("gives null for a marker that came with the image rather than from this container", async () => {
    const baked = renderReadyMarker("some-old-container", { name: "alice", uid: 0, gid: 0, home: "/root", shell: "/bin/sh" });
    const runtime = new FakeRuntime(new Map([[IMAGE, image([[READY_MARKER_PATH, baked]])]]));
    const id = await created(runtime, spec("alice"));
    assert.equal(await new AccountProvisioner(runtime, testPodIds()).readMarker(id, "alice"), null);
  });
});
