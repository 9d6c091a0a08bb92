import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { DockerRuntime } from "../../agent/src/adapters/docker/docker-runtime.js";
import { containerSpec, networkSpec } from "../../agent/src/core/container/container-spec.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../agent/src/core/config/node-config.js";
import { readCidr } from "../../agent/src/core/net/cidr.js";
import { dockerLines, removeInstanceContainers, runCommand } from "../../scripts/local-node.js";

/**
 * The containers the daemon creates, read back from the real engine with the docker CLI (an
 * independent view of what the adapter asked for) and from the host's /proc.
 */
const instance = `podspawn-hy${randomBytes(3).toString("hex")}`;
const runtime = new DockerRuntime();
const config = (over: Partial<NodeConfig["session"]> = {}): NodeConfig => ({
  ...DEFAULT_NODE_CONFIG,
  image: "podspawn/default:bookworm",
  session: { ...DEFAULT_NODE_CONFIG.session, ...over },
  resources: { cpus: 1.5, memoryBytes: 768 * 1024 * 1024, pids: 300 },
});

interface Inspected {
  readonly Config: { readonly User: string; readonly Image: string };
  readonly State: { readonly Pid: number; readonly Running: boolean };
  readonly Mounts: readonly { readonly Type: string; readonly Source: string; readonly Destination: string; readonly Name?: string }[];
  readonly HostConfig: Record<string, unknown> & {
    readonly CapDrop: string[] | null;
    readonly CapAdd: string[] | null;
    readonly SecurityOpt: string[] | null;
    readonly Binds: string[] | null;
  };
}

let networks = 0;

async function created(user: string, cfg: NodeConfig): Promise<Inspected> {
  const block = readCidr(`198.19.253.${16 * networks++}/28`);
  if (!block.ok) throw new Error(block.problem);
  await runtime.ensureNetwork(networkSpec(instance, user, block.value));
  const id = await runtime.create(containerSpec(instance, user, "default", cfg));
  await runtime.start(id);
  const r = await runCommand("docker", ["inspect", id]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Inspected[])[0] as Inspected;
}

function uidsOf(pid: number): string {
  return (/^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "").trim();
}

after(async () => {
  removeInstanceContainers(instance);
  for (const net of dockerLines(["network", "ls", "--filter", `label=podspawn.instance=${instance}`, "--format", "{{.Name}}"])) await runtime.removeNetwork(net);
  for (const v of dockerLines(["volume", "ls", "--filter", `label=podspawn.instance=${instance}`, "--format", "{{.Name}}"])) await runtime.removeVolume(v);
});

describe("container hygiene against the real engine", () => {
  it("drops every capability, sets no-new-privileges, keeps the default seccomp profile, not privileged", async () => {
    const c = await created("hya", config());
    assert.deepEqual(c.HostConfig.CapDrop, ["ALL"]);
    assert.ok(c.HostConfig.CapAdd === null || c.HostConfig.CapAdd.length === 0, String(c.HostConfig.CapAdd));
    assert.deepEqual(c.HostConfig.SecurityOpt, ["no-new-privileges:true"], "no seccomp=unconfined, no apparmor=unconfined");
    assert.equal(c.HostConfig["Privileged"], false);
    const status = readFileSync(`/proc/${c.State.Pid}/status`, "utf8");
    assert.match(status, /^CapEff:\s+0000000000000000$/m);
    assert.match(status, /^CapBnd:\s+0000000000000000$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.match(status, /^Seccomp:\s+2$/m, "a seccomp filter is in force");
  });

  it("limits pids, memory (no swap beyond it) and CPUs, with a private IPC namespace, an init and no restart", async () => {
    const c = await created("hyb", config());
    assert.equal(c.HostConfig["PidsLimit"], 300);
    assert.equal(c.HostConfig["Memory"], 768 * 1024 * 1024);
    assert.equal(c.HostConfig["MemorySwap"], 768 * 1024 * 1024);
    assert.equal(c.HostConfig["NanoCpus"], 1.5e9);
    assert.equal(c.HostConfig["IpcMode"], "private");
    assert.equal(c.HostConfig["Init"], true);
    assert.deepEqual(c.HostConfig["RestartPolicy"], { Name: "no", MaximumRetryCount: 0 });
    assert.equal(c.HostConfig["NetworkMode"], `${instance}.hyb`);
    assert.equal(c.HostConfig["PidMode"], "");
    assert.equal(c.HostConfig["UsernsMode"], "");
  });

  it("the keep-alive processes (init and sleep) run as nobody, not root", async () => {
    const c = await created("hyc", config());
    assert.equal(c.Config.User, "65534:65534");
    assert.equal(uidsOf(c.State.Pid), "65534\t65534\t65534\t65534");
    const children = readFileSync(`/proc/${c.State.Pid}/task/${c.State.Pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    assert.ok(children.length > 0, "init has the sleep as its child");
    for (const pid of children) assert.equal(uidsOf(Number(pid)), "65534\t65534\t65534\t65534", `pid ${pid}`);
  });

  it("mounts nothing but, in persistent mode, the user's own named home volume; never a host path or the Docker socket", async () => {
    const plain = await created("hyd", config());
    assert.deepEqual(plain.Mounts, []);
    assert.ok(plain.HostConfig.Binds === null || plain.HostConfig.Binds.length === 0);
    const persistent = await created("hyee", config({ mode: "persistent" }));
    assert.equal(persistent.Mounts.length, 1);
    const [m] = persistent.Mounts;
    assert.equal(m?.Type, "volume");
    assert.equal(m?.Name, `${instance}.hyee.default.home`);
    assert.equal(m?.Destination, "/home/hyee");
    for (const c of [plain, persistent]) assert.doesNotMatch(JSON.stringify(c), /docker\.sock/);
  });
});
