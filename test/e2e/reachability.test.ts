import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EGRESS_REFUSAL } from "../../agent/src/adapters/firewall/egress-firewall.js";
import { runCommand } from "../../scripts/local-node.js";
import { daemonLog, INSTANCE, startNode, type NodeHandle } from "./harness.js";
import { bridgeGateway, fromHost, listenOnHost, probe, startMetadataStandIn } from "./metadata-stand-in.js";

/**
 * What a pod container can reach, tried from inside a real container over real connections, each
 * against a listener that answers whoever gets through (checked from the host first):
 * - the cloud metadata address: a stand-in listens on 169.254.169.254:80 in a network namespace
 *   of this test's own, routed from the host exactly as a cloud node routes it;
 * - the host's own services, on the user's bridge gateway and on the host's other addresses.
 * And the rules are a precondition: with iptables unable to answer, sessions are refused.
 */
const USER = "e2e-reach";
let node: NodeHandle;
let dropStandIn: (() => Promise<void>) | undefined;

before(async () => {
  node = await startNode([USER]);
  dropStandIn = await startMetadataStandIn({ netns: "pst-meta", hostDev: "pst-meta-h", nsDev: "pst-meta-n" });
});
after(async () => {
  await dropStandIn?.();
  await node?.stop();
});

describe("reachability from inside a container", () => {
  it("the cloud metadata address is unreachable (a live stand-in on 169.254.169.254:80 answers the host, never the container)", async () => {
    assert.equal(await fromHost("169.254.169.254", 80), "METADATA\nrc=0\n", "the stand-in answers when reached");
    const r = await node.ssh(USER, [probe("169.254.169.254", 80)]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /METADATA/);
    assert.match(r.stdout, /^rc=(124|1)\n$/);
  });

  it("the host's own services are unreachable: a listener on all host addresses answers the host, not the container (bridge gateway or host address)", async () => {
    const { port, close } = await listenOnHost();
    try {
      await node.ssh(USER, ["true"]);
      const gateway = await bridgeGateway(`${INSTANCE}.${USER}`);
      const hostAddress = (await runCommand("bash", ["-c", "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | grep -v '^198\\.18\\.' | grep -v '^172\\.17\\.' | head -1"])).stdout.trim();
      for (const target of [gateway, hostAddress]) {
        assert.equal(await fromHost(target, port), "HOST-SERVICE\nrc=0\n", `${target} answers the host`);
        const r = await node.ssh(USER, [probe(target, port)]);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stdout, /HOST-SERVICE/, target);
        assert.match(r.stdout, /^rc=(124|1)\n$/, target);
      }
    } finally {
      close();
    }
  });
});

describe("the firewall is a precondition of every session", () => {
  it("with iptables failing for the daemon, a login is refused with one line and creates nothing; with it back, logins work", async () => {
    await node.ssh(USER, ["true"]);
    const containersBefore = node.containers().length;
    // The daemon runs in a mount namespace of its own where iptables is a program that fails: the
    // host's iptables, Docker's rules and every other process are untouched.
    const dir = await mkdtemp(join(tmpdir(), "pst-iptables-"));
    const stub = join(dir, "iptables");
    await writeFile(stub, "#!/bin/sh\necho 'iptables: stand-in failure' >&2\nexit 4\n", { mode: 0o755 });
    const logBefore = (await readFile(daemonLog, "utf8")).length;
    try {
      await node.restartDaemon(undefined, undefined, ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /usr/sbin/iptables && exec "$@"', stub]);
      const r = await node.ssh(USER, ["echo in"]);
      assert.equal(r.code, 255, r.stdout);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, `podspawn: ${EGRESS_REFUSAL}\n`);
      assert.equal(node.containers().length, containersBefore, "nothing created");
      assert.match((await readFile(daemonLog, "utf8")).slice(logBefore), /egress firewall rules not in place.*iptables: stand-in failure/);
    } finally {
      await node.restartDaemon();
      await rm(dir, { recursive: true, force: true });
    }
    const ok = await node.ssh(USER, ["echo in"]);
    assert.equal(ok.stdout, "in\n", ok.stderr);
  });
});
