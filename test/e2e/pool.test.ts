import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { KEEP_ALIVE_USER } from "../../agent/src/core/container/container-spec.js";
import { daemonLog, DEFAULT_TEST_CONFIG, eventually, INSTANCE, startNode, type NodeHandle } from "./harness.js";
import { startEcho } from "./port-forward.js";

/*
 * The pre-warmed pool against the real engine and sshd: fills, claims by real logins, stays out of
 * every user's reach before its claim, never hands one claim's leftovers to the next, survives a
 * daemon restart and drains on a changed spec.
 */
const CROWD = Array.from({ length: 10 }, (_, i) => `e2e-pool${i}`);
const [FIRST, SECOND, THIRD] = ["e2e-poola", "e2e-poolb", "e2e-poolc"] as const;
const POOL_CONFIG = DEFAULT_TEST_CONFIG.replace(/pool:\n {2}size: 0\n {2}project_size: 0\n/, "pool:\n  size: 2\n");
let node: NodeHandle;

const docker = (args: readonly string[]): string => execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/** Unclaimed pooled containers (full ids), as the engine lists them: the pool's own name. */
function pooled(): { id: string; state: string }[] {
  const lines = docker(["ps", "-a", "--no-trunc", "--filter", `label=podspawn.instance=${INSTANCE}`, "--filter", "label=podspawn.pooled=true", "--format", "{{.ID}} {{.Names}} {{.State}}"]);
  return lines
    .split("\n")
    .filter((l) => l.split(" ")[1]?.startsWith(`${INSTANCE}.pool.`))
    .map((l) => ({ id: l.split(" ")[0] ?? "", state: l.split(" ")[2] ?? "" }));
}

/** Counts processes running `sleep 4242` (read from /proc: the image has no ps). */
const SLEEPERS = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^sleep 4242'";
const idOf = (name: string): string => docker(["inspect", "-f", "{{.Id}}", name]);
const markerContainer = (text: string): string => (JSON.parse(text.trim().split("\n")[0] ?? "{}") as { container?: string }).container ?? "";
/** A shell line that prints what a TCP server at ADDRESS:7777 says, or "refused" (3 s at most). */
const DIAL = (address: string): string => `timeout 3 bash -c 'exec 3<>/dev/tcp/'"${address}"'/7777 && cat <&3' 2>/dev/null || echo refused`;

/** The pooled container made last: a claim takes the oldest first. */
function newestPooled(): string {
  const byAge = pooled().map((c) => ({ id: c.id, created: docker(["inspect", "-f", "{{.Created}}", c.id]) }));
  byAge.sort((a, b) => a.created.localeCompare(b.created));
  return byAge[byAge.length - 1]?.id ?? "";
}

async function poolFull(n = 2): Promise<string[]> {
  const ok = await eventually(() => pooled().filter((c) => c.state === "running").length === n, 60_000, 200);
  assert.ok(ok, `the pool reached ${n} running containers (has ${JSON.stringify(pooled())})`);
  // Give the refill a moment to settle on exactly n (it never overshoots, but wait for a fill in flight).
  await new Promise((r) => setTimeout(r, 500));
  return pooled().map((c) => c.id).sort();
}

async function logSince(offset: number): Promise<string> {
  return (await readFile(daemonLog, "utf8")).slice(offset);
}

before(async () => {
  node = await startNode([...CROWD, FIRST, SECOND, THIRD]);
  await node.writeConfig(POOL_CONFIG);
  await node.restartDaemon();
});
after(async () => {
  await node?.stop();
});

describe("the pre-warmed pool", () => {
  it("holds started containers each alone on a network of its own, that no user can reach or see as theirs before a claim, and keeps a claimed one there (tunnels included)", async () => {
    const ids = await poolFull();
    for (const id of ids) {
      const nets = JSON.parse(docker(["inspect", "-f", "{{json .NetworkSettings.Networks}}", id])) as Record<string, { IPAddress: string }>;
      const [own, ...others] = Object.keys(nets);
      assert.deepEqual(others, [], "one network");
      assert.match(own ?? "", new RegExp(`^${INSTANCE}\\.pool\\.[0-9a-f]{8}$`), "the pool's own, not any user's");
      assert.equal(docker(["network", "inspect", "-f", "{{.Labels}}", own ?? ""]).includes("podspawn.user"), false, "naming nobody");
      assert.deepEqual(Object.keys(JSON.parse(docker(["network", "inspect", "-f", "{{json .Containers}}", own ?? ""])) as object), [id], "nothing else on it");
      assert.equal(docker(["network", "inspect", "-f", "{{index .Options \"com.docker.network.bridge.enable_icc\"}}", own ?? ""]), "false", "hardened like a user network");
      assert.equal(docker(["exec", id, "sh", "-c", "test -e /etc/podspawn/ready && echo marker || echo none"]), "none");
      const hardening = docker(["inspect", "-f", "{{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.Init}} {{.HostConfig.Privileged}} {{.Config.User}}", id]);
      assert.equal(hardening, `["ALL"] ["no-new-privileges:true"] 256 536870912 true false ${KEEP_ALIVE_USER}`, "hardened like a user's container");
    }
    const listed = await node.podspawn(["list", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    for (const id of ids) assert.ok(!listed.stdout.includes(id.slice(0, 12)), "podspawn list shows no pooled container");
    assert.deepEqual(JSON.parse(listed.stdout), { environments: [] });

    // A listener in the newest pooled container, started before any claim. The host reaches it at
    // its address (the listener works there); FIRST's container, claimed from the oldest, does
    // not. SECOND's login then claims this one: it answers SECOND from inside, at the same
    // address, and FIRST still cannot reach it.
    const target = newestPooled();
    const targetAddress = docker(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", target]);
    const ownNetwork = docker(["inspect", "-f", "{{range $name, $n := .NetworkSettings.Networks}}{{$name}}{{end}}", target]);
    const tools = docker(["create", "podspawn/busybox:test", "true"]);
    try {
      execFileSync("sh", ["-c", `docker cp ${tools}:/bin/busybox - | docker cp - ${target}:/tmp/`]);
    } finally {
      docker(["rm", "-f", tools]);
    }
    docker(["exec", "-d", target, "/tmp/busybox", "nc", "-ll", "-p", "7777", "-e", "/tmp/busybox", "echo", "pooled-listener"]);
    assert.ok(await eventually(() => execFileSync("bash", ["-c", DIAL(targetAddress)], { encoding: "utf8" }).includes("pooled-listener"), 10_000), "the listener answers the host at its address");
    const first = await node.ssh(FIRST, [`cat /etc/podspawn/ready; ${DIAL(targetAddress)}`]);
    assert.equal(first.code, 0, first.stderr);
    const [firstMarker, firstAnswer] = first.stdout.trim().split("\n");
    assert.notEqual(markerContainer(firstMarker ?? ""), target, "FIRST claimed the oldest pooled container");
    assert.equal(firstAnswer, "refused", "FIRST's container cannot reach a pooled one before its claim");
    const second = await node.ssh(SECOND, [`cat /etc/podspawn/ready; ${DIAL("$(hostname -I | cut -d' ' -f1)")}; hostname -I | cut -d' ' -f1`]);
    assert.equal(second.code, 0, second.stderr);
    const [marker, answer, address] = second.stdout.trim().split("\n");
    assert.equal(markerContainer(marker ?? ""), target, "SECOND claimed the container with the listener");
    assert.equal(answer, "pooled-listener", "claimed, it answers SECOND on its own network");
    assert.equal((address ?? "").trim(), targetAddress, "the claim kept it where it was");
    const cross = await node.ssh(FIRST, [DIAL((address ?? "").trim())]);
    assert.equal(cross.stdout.trim(), "refused", "FIRST's container cannot reach SECOND's");
    // The daemon's tunnel looks the address up on the network the claimed container is on.
    await startEcho(node, SECOND, 7070);
    await node.podspawn(["stop", FIRST]);
    await node.podspawn(["stop", SECOND]);
    assert.ok(await eventually(() => !docker(["network", "ls", "--format", "{{.Name}}"]).split("\n").includes(ownNetwork), 10_000), "its network went with the stopped environment");
  });

  it("serves two of ten new users logging in at once from a pool of 2 and the rest the normal way, each in a container of their own", async () => {
    const ids = await poolFull();
    const offset = (await readFile(daemonLog, "utf8")).length;
    const results = await Promise.all(CROWD.map((u) => node.ssh(u, ["id -un; cat /etc/podspawn/ready; hostname"])));
    const seen = new Set<string>();
    for (const [i, r] of results.entries()) {
      const user = CROWD[i] ?? "";
      assert.equal(r.code, 0, `${user}: ${r.stderr}`);
      const [who, marker, host] = r.stdout.split("\n");
      assert.equal(who, user);
      assert.equal(host, "default");
      const container = (JSON.parse(marker ?? "{}") as { container: string }).container;
      assert.equal(container, idOf(`${INSTANCE}.${user}.default`), `${user} is in the container named for them`);
      seen.add(container);
    }
    assert.equal(seen.size, 10, "ten containers for ten users");
    for (const id of ids) assert.ok(seen.has(id), "both pooled containers were claimed");
    const log = await logSince(offset);
    const claims = (log.match(/ pool-claimed /g) ?? []).length;
    const created = (log.match(/ container-created /g) ?? []).length;
    assert.ok(claims >= 2, `at least the two pooled containers were claimed (${claims})`);
    assert.equal(claims + created, 10, "every other user took the normal path");
    for (const u of CROWD) await node.podspawn(["stop", u]);
  });

  it("never shows one claim's files, processes or environment to the next claim", async () => {
    await poolFull();
    const first = await node.ssh(THIRD, ["export POOL_SECRET=third; echo $POOL_SECRET > /tmp/third-was-here; (env > /tmp/third-env); nohup sleep 4242 >/dev/null 2>&1 & cat /etc/podspawn/ready"]);
    assert.equal(first.code, 0, first.stderr);
    const firstId = (JSON.parse(first.stdout.trim()) as { container: string }).container;
    const check = await node.ssh(THIRD, [`cat /tmp/third-was-here; ${SLEEPERS}`]);
    assert.deepEqual(check.stdout.trim().split("\n"), ["third", "1"], "the marker file and process exist in THIRD's container (the check can see them)");
    for (const next of [FIRST, SECOND]) {
      const r = await node.ssh(next, [`cat /etc/podspawn/ready; ls /tmp; ${SLEEPERS}; env | grep -c POOL_SECRET; cat /etc/passwd | grep -c e2e-poolc; true`]);
      assert.equal(r.code, 0, r.stderr);
      const [marker, ...rest] = r.stdout.trim().split("\n");
      assert.notEqual((JSON.parse(marker ?? "{}") as { container: string }).container, firstId);
      assert.ok(!rest.includes("third-was-here"), `${next} sees no file of THIRD's: ${r.stdout}`);
      assert.deepEqual(rest.slice(-3), ["0", "0", "0"], `${next}: no process, env var or account of THIRD's`);
    }
    assert.ok(!pooled().some((c) => c.id === firstId), "THIRD's container is not back in the pool");
    for (const u of [FIRST, SECOND, THIRD]) await node.podspawn(["stop", u]);
  });

  it("is adopted after a daemon restart, not duplicated", async () => {
    const ids = await poolFull();
    await node.restartDaemon();
    await node.reload();
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(pooled().map((c) => c.id).sort(), ids, "the same two containers, no more");
    const r = await node.ssh(FIRST, ["cat /etc/podspawn/ready"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(ids.includes((JSON.parse(r.stdout.trim()) as { container: string }).container), "and claimed after the restart");
    await node.podspawn(["stop", FIRST]);
  });

  it("drains the old pool when the spec changes, with the networks made for it, and refills with the new one", async () => {
    const old = await poolFull();
    const oldNetworks = old.map((id) => Object.keys(JSON.parse(docker(["inspect", "-f", "{{json .NetworkSettings.Networks}}", id])) as object)[0] ?? "");
    await node.writeConfig(POOL_CONFIG.replace("memory: 512m", "memory: 384m"));
    await node.reload();
    const ok = await eventually(() => {
      const now = pooled();
      return now.length === 2 && now.every((c) => !old.includes(c.id) && c.state === "running");
    }, 60_000, 200);
    assert.ok(ok, `the pool holds two new containers (${JSON.stringify(pooled())})`);
    for (const c of pooled()) assert.equal(docker(["inspect", "-f", "{{.HostConfig.Memory}}", c.id]), String(384 * 1024 * 1024));
    for (const id of old) assert.throws(() => idOf(id), "the old ones are gone");
    const gone = await eventually(() => !docker(["network", "ls", "--format", "{{.Name}}"]).split("\n").some((n) => oldNetworks.includes(n)), 10_000);
    assert.ok(gone, `their networks are gone too (${oldNetworks.join(", ")})`);
    await node.writeConfig(POOL_CONFIG);
  });
});
