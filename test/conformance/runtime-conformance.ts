import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { containerSpec, networkSpec } from "../../agent/src/core/container/container-spec.js";
import { NO_NETWORK, pooledContainerSpec, pooledNetworkOf, pooledNetworkSpec, poolTemplateOf } from "../../agent/src/core/container/pool-spec.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import { UserFacingError } from "../../agent/src/core/errors.js";
import type { ExecPlan } from "../../agent/src/core/container/exec-plan.js";
import { formatCidr, readCidr, type Cidr } from "../../agent/src/core/net/cidr.js";
import { NetworkInUse, SubnetTaken, type ContainerRuntime, type ExecSession } from "../../agent/src/core/ports/container-runtime.js";

/**
 * One behavioural contract for every ContainerRuntime: the Docker adapter (integration) and the
 * in-memory fake (unit) both run it, which keeps the fake honest.
 */
export interface ConformanceTarget {
  readonly runtime: ContainerRuntime;
  /** An image with /etc/passwd, /etc/group and /bin/sh (and `cat`, `head -c`). */
  readonly image: string;
  /**
   * Waits long enough for a process that is not held back to have finished whatever it was doing
   * (a real engine: some hundreds of ms; the fake: a few turns of the event loop). Not a bound on
   * anything: the backpressure cases check what is buffered after it.
   */
  readonly settle: () => Promise<void>;
}

/** What the backpressure cases allow to pile up anywhere between the process and us. */
const BACKPRESSURE_BOUND = 16 * 1024 * 1024;
const PUSH_BYTES = 64 * 1024 * 1024;

/** Reads a stream to its end, counting bytes and checking they are all zero. */
async function countZeros(stream: NodeJS.ReadableStream): Promise<number> {
  let n = 0;
  for await (const c of stream) {
    const b = c as Buffer;
    if (b.some((x) => x !== 0)) throw new Error("output changed on the way");
    n += b.length;
  }
  return n;
}

/** Writes `chunk` into `sink` until it says full and 'drain' does not come before `settle`. */
async function writeUntilStalled(sink: NodeJS.WritableStream, chunk: Buffer, max: number, settle: () => Promise<void>): Promise<{ written: number; stalled: boolean }> {
  let written = 0;
  while (written < max) {
    written += chunk.length;
    if (sink.write(chunk)) continue;
    const drained = await Promise.race([new Promise<boolean>((r) => sink.once("drain", () => r(true))), settle().then(() => false)]);
    if (!drained) return { written, stalled: true };
  }
  return { written, stalled: false };
}

/** Far from the daemon's default pool's low end and from Docker's default pools. */
function testBlock(third: number): Cidr {
  const r = readCidr(`198.19.254.${third}/28`);
  if (!r.ok) throw new Error(r.problem);
  return r.value;
}

function plan(script: string): ExecPlan {
  return { kind: "command", argv: ["/bin/sh", "-c", script], tty: false, env: ["HOME=/"], user: "0:0", workdir: "/" };
}

async function output(session: ExecSession): Promise<{ stdout: string; stderr: string; code: number }> {
  const read = async (s: NodeJS.ReadableStream): Promise<string> => {
    let out = "";
    for await (const c of s) out += String(c);
    return out;
  };
  const [stdout, stderr, code] = await Promise.all([read(session.stdout), read(session.stderr), session.exited]);
  return { stdout, stderr, code };
}

export function runtimeConformance(name: string, target: () => ConformanceTarget): void {
  describe(`ContainerRuntime conformance: ${name}`, () => {
    const instance = `podspawn-cf${randomBytes(3).toString("hex")}`;
    const config = () => ({ ...DEFAULT_NODE_CONFIG, image: target().image });
    const created: string[] = [];
    let counter = 0;
    const fresh = async (start = true): Promise<{ id: string; name: string }> => {
      const { runtime } = target();
      const user = `cf${++counter}`;
      await runtime.ensureNetwork(networkSpec(instance, user));
      const spec = containerSpec(instance, user, "default", config());
      const id = await runtime.create(spec);
      created.push(id);
      if (start) await runtime.start(id);
      return { id, name: spec.name };
    };

    after(async () => {
      const { runtime } = target();
      for (const id of created) await runtime.remove(id);
      for (const n of await runtime.listNetworks(instance)) await runtime.removeNetwork(n.name);
      for (const v of await runtime.listVolumes(instance)) await runtime.removeVolume(v);
    });

    it("creates a stopped container that inspectByName finds with its labels", async () => {
      const { runtime } = target();
      const { id, name } = await fresh(false);
      const c = await runtime.inspectByName(name);
      assert.ok(c);
      assert.equal(c.id, id);
      assert.equal(c.running, false);
      assert.equal(c.labels["podspawn.instance"], instance);
      assert.equal(c.project, "default");
      assert.equal(await runtime.inspectByName(`${name}-absent`), null);
    });

    it("starts a container, and starting it again is not an error", async () => {
      const { runtime } = target();
      const { id, name } = await fresh(false);
      await runtime.start(id);
      await runtime.start(id);
      assert.equal((await runtime.inspectByName(name))?.running, true);
    });

    it("lists only the managed containers of its instance", async () => {
      const { runtime } = target();
      const { id } = await fresh(false);
      const mine = await runtime.listManaged(instance);
      assert.ok(mine.some((c) => c.id === id));
      assert.equal((await runtime.listManaged(`${instance}x`)).length, 0);
    });

    it("reads files before start and leaves missing paths out", async () => {
      const { runtime } = target();
      const { id } = await fresh(false);
      const files = await runtime.readFiles(id, ["/etc/passwd", "/etc/does-not-exist"]);
      assert.match(files.get("/etc/passwd")?.toString() ?? "", /^root:/m);
      assert.equal(files.has("/etc/does-not-exist"), false);
      assert.equal(await runtime.pathExists(id, "/bin/sh"), true);
      assert.equal(await runtime.pathExists(id, "/no/such/path"), false);
    });

    it("writes files and directories that read back", async () => {
      const { runtime } = target();
      const { id } = await fresh(false);
      await runtime.writeFiles(id, [
        { path: "etc/podspawn-test", type: "file", mode: 0o644, uid: 0, gid: 0, data: Buffer.from("hello\n") },
        { path: "home/someone", type: "dir", mode: 0o750, uid: 1000, gid: 1000 },
      ]);
      assert.equal((await runtime.readFiles(id, ["/etc/podspawn-test"])).get("/etc/podspawn-test")?.toString(), "hello\n");
      assert.equal(await runtime.pathExists(id, "/home/someone"), true);
    });

    it("writes into a running container: an existing file gets the new content, missing parents are made, entries land in order", async () => {
      const { runtime } = target();
      // On no network: a started container is what matters here, and the fake's pools are few.
      const id = await runtime.create({ ...containerSpec(instance, "live", `p${++counter}`, config()), network: NO_NETWORK });
      created.push(id);
      await runtime.start(id);
      const file = (path: string, data: string) => ({ path, type: "file" as const, mode: 0o644, uid: 0, gid: 0, data: Buffer.from(data) });
      await runtime.writeFiles(id, [file("etc/podspawn-live", "first\n")]);
      await runtime.writeFiles(id, [file("etc/podspawn-live", "second\n"), file("srv/made/on/the/way", "deep\n"), file("srv/made/on/the/way", "last wins\n")]);
      const files = await runtime.readFiles(id, ["/etc/podspawn-live", "/srv/made/on/the/way"]);
      assert.equal(files.get("/etc/podspawn-live")?.toString(), "second\n");
      assert.equal(files.get("/srv/made/on/the/way")?.toString(), "last wins\n");
      assert.equal(await runtime.pathExists(id, "/srv/made/on"), true);
    });

    it("execs a command with separate stdout and stderr and its exit code", async () => {
      const { runtime } = target();
      const { id } = await fresh();
      const r = await output(await runtime.exec(id, plan("echo out; echo err >&2; exit 3")));
      assert.equal(r.stdout, "out\n");
      assert.equal(r.stderr, "err\n");
      assert.equal(r.code, 3);
    });

    it("relays stdin to the process until EOF", async () => {
      const { runtime } = target();
      const { id } = await fresh();
      const s = await runtime.exec(id, plan("cat"));
      s.stdin.write("line 1\n");
      s.stdin.end("line 2\n");
      const r = await output(s);
      assert.equal(r.stdout, "line 1\nline 2\n");
      assert.equal(r.code, 0);
    });

    it("stops a process whose output is not read, with a bounded amount buffered, and delivers every byte once read", async () => {
      const { runtime, settle } = target();
      const { id } = await fresh();
      const s = await runtime.exec(id, plan(`head -c ${PUSH_BYTES} /dev/zero`));
      let exited = false;
      void s.exited.then(() => (exited = true));
      await settle();
      assert.equal(exited, false, "the process is blocked on its full stdout, not finished");
      assert.ok(s.stdout.readableLength <= BACKPRESSURE_BOUND, `${s.stdout.readableLength} bytes buffered unread`);
      const [bytes, stderr, code] = await Promise.all([countZeros(s.stdout), countZeros(s.stderr), s.exited]);
      assert.equal(bytes, PUSH_BYTES);
      assert.equal(stderr, 0);
      assert.equal(code, 0);
    });

    it("pushes back on the writer of a process that cannot get rid of its output, and moves every byte once it can", async () => {
      const { runtime, settle } = target();
      const { id } = await fresh();
      const s = await runtime.exec(id, plan("cat"));
      const chunk = Buffer.alloc(64 * 1024);
      const first = await writeUntilStalled(s.stdin, chunk, PUSH_BYTES, settle);
      assert.equal(first.stalled, true, "stdin stops taking bytes while stdout is not read");
      assert.ok(first.written <= BACKPRESSURE_BOUND, `${first.written} bytes taken before it pushed back`);
      const counted = countZeros(s.stdout);
      for (let n = first.written; n < PUSH_BYTES; n += chunk.length) if (!s.stdin.write(chunk)) await new Promise((r) => s.stdin.once("drain", r));
      s.stdin.end();
      assert.equal(await counted, PUSH_BYTES);
      assert.equal(await s.exited, 0);
    });

    it("ends a running process when signalled", async () => {
      const { runtime } = target();
      const { id } = await fresh();
      const s = await runtime.exec(id, plan("cat"));
      const done = output(s);
      await new Promise((r) => setTimeout(r, 200));
      await s.signal("SIGKILL");
      const r = await done;
      assert.notEqual(r.code, 0);
    });

    it("gives a running container's address on its own network only, and none once it is gone", async () => {
      const { runtime } = target();
      const { id, name } = await fresh(false);
      const spec = containerSpec(instance, `cf${counter}`, "default", config());
      assert.equal(spec.name, name);
      assert.equal(await runtime.containerAddress(id, spec.network), null, "not running yet");
      await runtime.start(id);
      const address = await runtime.containerAddress(id, spec.network);
      assert.match(address ?? "", /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
      assert.equal(await runtime.containerAddress(id, `${spec.network}-other`), null, "not attached to another network");
      await runtime.remove(id);
      assert.equal(await runtime.containerAddress(id, spec.network), null);
    });

    it("removes a container, and removing it again is not an error", async () => {
      const { runtime } = target();
      const { id, name } = await fresh();
      await runtime.remove(id);
      await runtime.remove(id);
      assert.equal(await runtime.inspectByName(name), null);
    });

    it("creates a network once however often it is ensured, and removes it", async () => {
      const { runtime } = target();
      const spec = networkSpec(instance, "netcheck");
      await Promise.all([runtime.ensureNetwork(spec), runtime.ensureNetwork(spec)].slice(0, 1));
      await runtime.ensureNetwork(spec);
      const listed = (await runtime.listNetworks(instance)).filter((n) => n.name === spec.name);
      assert.deepEqual(listed, [{ name: spec.name, labels: spec.labels }], "once, with its labels");
      await runtime.removeNetwork(spec.name);
      await runtime.removeNetwork(spec.name);
      assert.equal((await runtime.listNetworks(instance)).some((n) => n.name === spec.name), false);
    });

    it("keeps a network a container is attached to, started or only created, with NetworkInUse naming it; removes it once the container is gone", async () => {
      const { runtime } = target();
      const net = networkSpec(instance, "inuse", testBlock(112));
      await runtime.ensureNetwork(net);
      const spec = { ...containerSpec(instance, "inuse", "default", config()), network: net.name };
      const id = await runtime.create(spec);
      created.push(id);
      const inUse = (err: unknown) => err instanceof NetworkInUse && err.network === net.name && err.containers.includes(spec.name);
      // Created, not started: the engine itself would remove this network, and the container could never start.
      await assert.rejects(runtime.removeNetwork(net.name), inUse);
      assert.ok((await runtime.listNetworks(instance)).some((n) => n.name === net.name), "kept");
      await runtime.start(id);
      await assert.rejects(runtime.removeNetwork(net.name), inUse);
      assert.equal(await runtime.containerAddress(id, net.name) !== null, true, "the container keeps its address");
      await runtime.remove(id);
      await runtime.removeNetwork(net.name);
      assert.equal((await runtime.listNetworks(instance)).some((n) => n.name === net.name), false);
    });

    it("creates a network on the subnet it is given, with the gateway on its first address, and lists it with its instance", async () => {
      const { runtime } = target();
      const spec = networkSpec(instance, "subnet", testBlock(0));
      assert.equal(await runtime.ensureNetwork(spec), true);
      const listed = (await runtime.engineNetworks()).find((n) => n.name === spec.name);
      assert.deepEqual(listed && { instance: listed.instance, subnets: listed.subnets.map(formatCidr) }, { instance, subnets: ["198.19.254.0/28"] });
      await runtime.removeNetwork(spec.name);
    });

    it("refuses a network whose subnet overlaps another network's with SubnetTaken, and lists others' networks without an instance", async () => {
      const { runtime } = target();
      const foreign = { name: `${instance}-foreign`, labels: {}, subnet: testBlock(32) };
      await runtime.ensureNetwork(foreign);
      try {
        const listed = (await runtime.engineNetworks()).find((n) => n.name === foreign.name);
        assert.deepEqual(listed && { instance: listed.instance, subnets: listed.subnets.map(formatCidr) }, { instance: null, subnets: ["198.19.254.32/28"] });
        await assert.rejects(runtime.ensureNetwork(networkSpec(instance, "overlap", testBlock(32))), SubnetTaken);
        assert.equal((await runtime.listNetworks(instance)).some((n) => n.name === networkSpec(instance, "overlap").name), false, "nothing was created");
      } finally {
        await runtime.removeNetwork(foreign.name);
      }
    });

    it("keeps a persistent home volume's files when the container is removed and recreated", async () => {
      const { runtime } = target();
      const persistent = { ...config(), session: { ...config().session, mode: "persistent" as const } };
      await runtime.ensureNetwork(networkSpec(instance, "vol"));
      const spec = containerSpec(instance, "vol", "default", persistent);
      const first = await runtime.create(spec);
      created.push(first);
      await runtime.writeFiles(first, [
        { path: "home/vol", type: "dir", mode: 0o750, uid: 1000, gid: 1000 },
        { path: "home/vol/notes.txt", type: "file", mode: 0o644, uid: 1000, gid: 1000, data: Buffer.from("kept\n") },
      ]);
      await runtime.remove(first);
      assert.ok((await runtime.listVolumes(instance)).includes(spec.homeVolume?.name ?? "?"), "volume outlives the container");
      const second = await runtime.create(spec);
      created.push(second);
      assert.equal((await runtime.readFiles(second, ["/home/vol/notes.txt"])).get("/home/vol/notes.txt")?.toString(), "kept\n");
      await runtime.remove(second);
      await runtime.removeVolume(spec.homeVolume?.name ?? "?");
      assert.equal((await runtime.listVolumes(instance)).includes(spec.homeVolume?.name ?? "?"), false);
    });

    it("renames a container, running or not, and refuses a name another container has", async () => {
      const { runtime } = target();
      const a = await fresh();
      const b = await fresh(false);
      const renamed = `${instance}.renamed${counter}.default`;
      await runtime.rename(a.id, renamed);
      assert.equal((await runtime.inspectByName(renamed))?.id, a.id);
      assert.equal(await runtime.inspectByName(a.name), null, "the old name is free");
      await assert.rejects(runtime.rename(b.id, renamed));
      assert.equal((await runtime.inspectByName(b.name))?.id, b.id, "a refused rename changes nothing");
    });

    it("creates a pooled container on the network made for it, with an address there and labels naming no user", async () => {
      const { runtime } = target();
      const template = poolTemplateOf(containerSpec(instance, "pooled", "default", config()));
      assert.ok(template);
      const imageId = (await runtime.imageId(target().image)) ?? "?";
      const tag = `t${++counter}`;
      const net = pooledNetworkSpec(instance, tag, testBlock(128));
      await runtime.ensureNetwork(net);
      const spec = pooledContainerSpec(instance, template, imageId, tag);
      assert.equal(spec.network, net.name);
      const id = await runtime.create(spec);
      created.push(id);
      await runtime.start(id);
      assert.match((await runtime.containerAddress(id, net.name)) ?? "", /^198\.19\.254\.1(3\d|4[0-2])$/);
      const pooled = (await runtime.listManaged(instance)).find((c) => c.id === id);
      assert.deepEqual(pooled && { user: pooled.user, project: pooled.project, pooled: pooled.labels["podspawn.pooled"], network: pooledNetworkOf(instance, pooled.labels) }, { user: "", project: "", pooled: "true", network: net.name }, "a pooled container names no user, and its label names its network");
      await assert.rejects(runtime.removeNetwork(net.name), NetworkInUse, "its network stays while it is there");
      await runtime.remove(id);
      await runtime.removeNetwork(net.name);
    });

    it("attaches a container created on no network to a network, live: no address before, one after", async () => {
      const { runtime } = target();
      const spec = { ...containerSpec(instance, "nonet", `p${++counter}`, config()), network: NO_NETWORK };
      const id = await runtime.create(spec);
      created.push(id);
      await runtime.start(id);
      const net = networkSpec(instance, "nonet", testBlock(64));
      await runtime.ensureNetwork(net);
      assert.equal(await runtime.containerAddress(id, net.name), null, "on no network before");
      await runtime.connectNetwork(id, net.name);
      await runtime.connectNetwork(id, net.name);
      assert.match((await runtime.containerAddress(id, net.name)) ?? "", /^198\.19\.254\.(6[5-9]|7\d)$/);
      await runtime.remove(id);
      await runtime.removeNetwork(net.name);
    });

    it("creates a companion service on an internal network with its labels and volume (not started), and joins a container on its own network to that network too", async () => {
      const { runtime } = target();
      const mainSpec = containerSpec(instance, "svc", "web", config());
      const userNet = networkSpec(instance, "svc", testBlock(80));
      const servicesNet = { name: `${instance}.svc.web.services`, labels: { "podspawn.managed": "true", "podspawn.instance": instance }, subnet: testBlock(96), internal: true };
      await runtime.ensureNetwork(userNet);
      await runtime.ensureNetwork(servicesNet);
      const labels = { "podspawn.managed": "true", "podspawn.instance": instance, "podspawn.user": "svc", "podspawn.project": "web", "podspawn.service": "db" };
      const volume = `${instance}.svc.web.data`;
      const sid = await runtime.createService({ name: `${instance}.svc.web.db`, image: target().image, network: servicesNet.name, alias: "db", env: ["A=b"], labels, ociRuntime: "runc", cpus: 0.5, memoryBytes: 64 * 1024 ** 2, pidsLimit: 64, capAdd: [], volumes: [{ name: volume, target: "/data", readOnly: false, labels }], scratch: ["/tmp"] });
      created.push(sid);
      const found = await runtime.inspectByName(`${instance}.svc.web.db`);
      assert.deepEqual(found && { id: found.id, user: found.user, project: found.project, service: found.labels["podspawn.service"] }, { id: sid, user: "svc", project: "web", service: "db" });
      assert.ok((await runtime.listVolumes(instance)).includes(volume));
      // Not started: the image's own entrypoint (the conformance image's is a shell that exits at once).
      const mid = await runtime.create(mainSpec);
      created.push(mid);
      await runtime.connectNetwork(mid, servicesNet.name);
      await runtime.start(mid);
      assert.match((await runtime.containerAddress(mid, userNet.name)) ?? "", /^198\.19\.254\.(8[1-9]|9[0-4])$/, "keeps its own network");
      assert.match((await runtime.containerAddress(mid, servicesNet.name)) ?? "", /^198\.19\.254\.(9[7-9]|10\d|110)$/, "and has an address on the services network");
      await runtime.remove(mid);
      await runtime.remove(sid);
      await runtime.removeVolume(volume);
      assert.ok(!(await runtime.listVolumes(instance)).includes(volume));
      await runtime.removeNetwork(servicesNet.name);
      await runtime.removeNetwork(userNet.name);
    });

    it("refuses to create from a missing image with an image-missing error", async () => {
      const { runtime } = target();
      const spec = containerSpec(instance, "noimage", "default", { ...config(), image: "podspawn/absent:never" });
      await assert.rejects(runtime.create(spec), (err: unknown) => err instanceof UserFacingError && err.code === "image-missing");
    });
  });
}
