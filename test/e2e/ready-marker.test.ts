import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { startDaemon, stopDaemon } from "../../scripts/local-node.js";
import { daemonLog, INSTANCE, startNode, type NodeHandle } from "./harness.js";

const USER = "e2e-marker";
const IMAGE = "podspawn/default:bookworm";
let node: NodeHandle;

before(async () => {
  node = await startNode([USER]);
});
after(async () => {
  await node?.stop();
});

const name = `${INSTANCE}.${USER}.default`;
const docker = (args: readonly string[]): string => execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
const idOf = (ref: string): string | null => {
  try {
    return docker(["inspect", "-f", "{{.Id}}", ref]);
  } catch {
    return null;
  }
};

describe("the ready marker", () => {
  it("is written into a new container with its own id and the account its sessions run as", async () => {
    const r = await node.ssh(USER, ["cat /etc/podspawn/ready; id -u; stat -c '%U %a' /etc/podspawn/ready"]);
    assert.equal(r.code, 0, r.stderr);
    const [marker, uid, owner] = r.stdout.split("\n");
    const doc = JSON.parse(marker ?? "") as { container: string; account: { name: string; uid: number } };
    assert.equal(doc.container, idOf(name));
    assert.equal(doc.account.name, USER);
    assert.equal(String(doc.account.uid), uid);
    assert.equal(owner, "root 644", "root's file: the user cannot forge it");
  });

  it("replaces, at the next login, a container left with our labels but no marker by a daemon that died half-way", async () => {
    await node.ssh(USER, ["true"]);
    const labels = JSON.parse(docker(["inspect", "-f", "{{json .Config.Labels}}", name])) as Record<string, string>;
    const network = `${INSTANCE}.${USER}`;
    await stopDaemon(INSTANCE);
    // What a crash between create and the account write leaves: the daemon's own name, labels and
    // network, the image's files only (no account, no home, no marker), created and never started.
    docker(["rm", "-f", name]);
    const halfMade = docker(["create", "--name", name, "--network", network, ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]), "--entrypoint", "sleep", IMAGE, "infinity"]);
    const logStart = (await stat(daemonLog)).size;
    await startDaemon({ instance: INSTANCE, logFile: daemonLog });

    const r = await node.ssh(USER, ["id -un; echo $HOME; ls -d ~; cat /etc/podspawn/ready"]);
    assert.equal(r.code, 0, r.stderr);
    const [who, home, listed, marker] = r.stdout.split("\n");
    assert.deepEqual([who, home, listed], [USER, `/home/${USER}`, `/home/${USER}`]);
    const now = idOf(name);
    assert.ok(now, "a container of that name runs");
    assert.notEqual(now, halfMade, "the half-made container was replaced, not adopted");
    assert.equal(idOf(halfMade), null, "and removed");
    assert.equal((JSON.parse(marker ?? "") as { container: string }).container, now);
    const log = (await readFile(daemonLog)).subarray(logStart).toString("utf8");
    assert.match(log, new RegExp(`container-removed user=${USER} project=default container=${name.replace(/\./g, "\\.")} reason=not-ready`), "the daemon log says why it was replaced");
  });
});
