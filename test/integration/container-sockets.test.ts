/**
 * ProcRootSockets against the real engine: a runc container of the default image, sockets bound
 * through /proc/<pid>/root and used by real processes inside it. Needs root and Docker; fails
 * loudly without them.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { DockerRuntime } from "../../agent/src/adapters/docker/docker-runtime.js";
import { ProcRootSockets } from "../../agent/src/adapters/docker/proc-root-sockets.js";
import { SocketUnavailable } from "../../agent/src/core/ports/container-sockets.js";
import { runCommand } from "../../scripts/local-node.js";
import { socketsConformance } from "../conformance/container-sockets-conformance.js";

const IMAGE = "podspawn/default:bookworm";
const runtime = new DockerRuntime();
const sockets = new ProcRootSockets((id) => runtime.initProcess(id));

async function startContainer(name: string): Promise<string> {
  await runCommand("docker", ["rm", "-f", name]);
  const r = await runCommand("docker", ["run", "-d", "--name", name, "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--network", "none", IMAGE, "sleep", "600"]);
  assert.equal(r.code, 0, `docker run: ${r.stderr}`);
  return r.stdout.trim();
}

/** ssh-add -l as `uid` in the container: what it says tells whether it reached a listener. */
async function connectInside(name: string, path: string, uid: number): Promise<string> {
  const r = await runCommand("docker", ["exec", "-u", `${uid}:${uid}`, "-e", `SSH_AUTH_SOCK=${path}`, name, "ssh-add", "-l"]);
  if (/Permission denied/.test(r.stderr)) return "EACCES";
  if (/No such file or directory/.test(r.stderr)) return "ENOENT";
  if (/Error connecting to agent/.test(r.stderr)) return r.stderr.trim();
  return "connected";
}

socketsConformance("ProcRootSockets (runc)", async () => {
  const name = "podspawn-it-sockets";
  const id = await startContainer(name);
  return {
    sockets,
    containerId: id,
    owner: { uid: 70000, gid: 70000 },
    connectFromInside: (path, uid) => connectInside(name, path, uid),
    statInside: async (path) => {
      const r = await runCommand("docker", ["exec", name, "stat", "-c", "%a %u", path]);
      return r.code === 0 ? r.stdout.trim() : "missing";
    },
    cleanup: async () => void (await runCommand("docker", ["rm", "-f", name])),
  };
});

describe("ProcRootSockets refuses what would reach the host", { timeout: 120_000 }, () => {
  const name = "podspawn-it-sockets-evil";
  let id = "";
  before(async () => {
    id = await startContainer(name);
  });
  after(async () => {
    await runCommand("docker", ["rm", "-f", name]);
  });

  it("a symlink at /run/podspawn (absolute, so it would resolve on the HOST): no socket, nothing on the host", async () => {
    const tag = `podspawn-it-evil-${process.pid}`;
    // Root in the container plants it: the user could not, but the daemon must not trust that.
    assert.equal((await runCommand("docker", ["exec", name, "ln", "-s", `/tmp/${tag}`, "/run/podspawn"])).code, 0);
    await runCommand("docker", ["exec", name, "mkdir", "-p", `/tmp/${tag}/agent`]);
    await assert.rejects(sockets.listen(id, "s1-0123456789abcdef.sock", { uid: 70000, gid: 70000 }), (err: unknown) => err instanceof SocketUnavailable && /\/run\/podspawn is a symlink/.test(err.message));
    assert.equal(existsSync(`/tmp/${tag}`), false, "nothing was made on the host");
    await runCommand("docker", ["exec", name, "rm", "/run/podspawn"]);
  });

  it("a directory the user may write (/run/podspawn/agent world-writable): no socket", async () => {
    await runCommand("docker", ["exec", name, "sh", "-c", "rm -rf /run/podspawn; mkdir -p /run/podspawn/agent && chmod 1777 /run/podspawn/agent"]);
    await assert.rejects(sockets.listen(id, "s2-0123456789abcdef.sock", { uid: 70000, gid: 70000 }), /writable by group or others/);
  });

  it("a stopped container: no socket", async () => {
    await runCommand("docker", ["stop", "-t", "0", name]);
    await assert.rejects(sockets.listen(id, "s3-0123456789abcdef.sock", { uid: 70000, gid: 70000 }), /not running/);
  });
});
