import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { EGRESS_REFUSAL, EgressFirewall } from "../../agent/src/adapters/firewall/egress-firewall.js";
import type { RunProcess } from "../../agent/src/adapters/process/run-process.js";
import { readCidr } from "../../agent/src/core/net/cidr.js";
import { egressRules, resolversOf, type EgressPolicy } from "../../agent/src/core/net/egress-rules.js";
import { UserFacingError } from "../../agent/src/core/errors.js";

const pool = (() => {
  const c = readCidr("198.18.0.0/15");
  if (!c.ok) throw new Error(c.problem);
  return c.value;
})();
const policy = (over: Partial<EgressPolicy> = {}): EgressPolicy => ({ pool, blockPrivateRanges: false, resolvers: [], ...over });
const text = (rules: ReturnType<typeof egressRules>): string[] => rules.map((r) => `${r.table ? `${r.table}:` : ""}${r.chain} ${r.spec.join(" ")}`);
const BETWEEN_NETWORKS = "mangle:FORWARD -s 198.18.0.0/15 -d 198.18.0.0/15 -m physdev ! --physdev-is-bridged -j DROP";

describe("egressRules", () => {
  it("always drops the metadata address, new connections from pod containers to the host, and routed traffic between pod networks (in mangle, which Docker never rewrites)", () => {
    assert.deepEqual(text(egressRules(policy())), [
      "DOCKER-USER -d 169.254.169.254/32 -j DROP",
      "INPUT -s 198.18.0.0/15 -m conntrack --ctstate NEW -j DROP",
      BETWEEN_NETWORKS,
    ]);
  });

  it("with block_private_ranges drops every private range from the pool, letting the host's private resolvers through on 53 first", () => {
    assert.deepEqual(text(egressRules(policy({ blockPrivateRanges: true, resolvers: ["10.0.0.2", "8.8.8.8"] }))), [
      "DOCKER-USER -s 198.18.0.0/15 -d 10.0.0.2/32 -p udp --dport 53 -j RETURN",
      "DOCKER-USER -s 198.18.0.0/15 -d 10.0.0.2/32 -p tcp --dport 53 -j RETURN",
      "DOCKER-USER -d 169.254.169.254/32 -j DROP",
      "INPUT -s 198.18.0.0/15 -m conntrack --ctstate NEW -j DROP",
      BETWEEN_NETWORKS,
      "DOCKER-USER -s 198.18.0.0/15 -d 10.0.0.0/8 -j DROP",
      "DOCKER-USER -s 198.18.0.0/15 -d 172.16.0.0/12 -j DROP",
      "DOCKER-USER -s 198.18.0.0/15 -d 192.168.0.0/16 -j DROP",
      "DOCKER-USER -s 198.18.0.0/15 -d 100.64.0.0/10 -j DROP",
      "DOCKER-USER -s 198.18.0.0/15 -d 169.254.0.0/16 -j DROP",
    ]);
  });

  it("reads IPv4 nameservers from resolv.conf and nothing else", () => {
    assert.deepEqual(resolversOf("# c\nnameserver 10.255.255.53\nnameserver ::1\nsearch x\n nameserver  1.1.1.1 \nnameserver 1.2.3.4;id\n"), ["10.255.255.53", "1.1.1.1"]);
  });

  it("never puts text that is not an address into a rule (property)", () => {
    fc.assert(
      fc.property(fc.string(), (junk) => {
        for (const rule of egressRules(policy({ blockPrivateRanges: true, resolvers: resolversOf(`nameserver ${junk}\n`) }))) {
          for (const arg of rule.spec) assert.match(arg, /^(-[a-z-]+|[A-Z]+|NEW|conntrack|physdev|!|udp|tcp|53|[0-9./]+)$/);
        }
      }),
    );
  });
});

/** An iptables with chains in memory: -C finds, -I inserts on top, -D removes one. */
function fakeIptables(initial: Record<string, string[]> = {}): { run: RunProcess; chains: Record<string, string[]>; calls: number } {
  const chains: Record<string, string[]> = { "DOCKER-USER": [], INPUT: [], FORWARD: [], ...initial };
  const state = { run: null as unknown as RunProcess, chains, calls: 0 };
  state.run = async (_file, args) => {
    state.calls++;
    const [, , action, chain, ...spec] = args;
    const rules = chains[chain as string] ?? [];
    const rule = spec.join(" ");
    const at = rules.indexOf(rule);
    const ok = action === "-I" ? (rules.unshift(rule), true) : action === "-D" ? at >= 0 && (rules.splice(at, 1), true) : at >= 0;
    return { code: ok ? 0 : 1, signal: null, timedOut: false, stdout: "", stderr: ok ? "" : "iptables: Bad rule (does a matching rule exist in that chain?).\n", truncated: false };
  };
  return state;
}

describe("EgressFirewall", () => {
  const shared = policy({ blockPrivateRanges: true, resolvers: ["10.0.0.2"] });

  it("installs every rule with the resolvers' RETURNs above the private-range DROPs, and a second run changes nothing", async () => {
    const ipt = fakeIptables();
    const fw = new EgressFirewall({ rules: () => egressRules(shared), run: ipt.run });
    assert.equal(await fw.ensure(), null);
    const docker = ipt.chains["DOCKER-USER"] ?? [];
    assert.deepEqual(docker.slice(0, 2), ["-s 198.18.0.0/15 -d 10.0.0.2/32 -p udp --dport 53 -j RETURN", "-s 198.18.0.0/15 -d 10.0.0.2/32 -p tcp --dport 53 -j RETURN"]);
    assert.equal(docker.length, 8);
    assert.deepEqual(ipt.chains["INPUT"], ["-s 198.18.0.0/15 -m conntrack --ctstate NEW -j DROP"]);
    assert.deepEqual(ipt.chains["FORWARD"], ["-s 198.18.0.0/15 -d 198.18.0.0/15 -m physdev ! --physdev-is-bridged -j DROP -t mangle"], "the table passed to iptables");
    const before = JSON.stringify(ipt.chains);
    assert.equal(await fw.ensure(), null);
    assert.equal(JSON.stringify(ipt.chains), before);
  });

  it("puts the RETURNs back on top when a DROP went missing (a private DROP inserted above them would cut DNS)", async () => {
    const ipt = fakeIptables();
    const fw = new EgressFirewall({ rules: () => egressRules(shared), run: ipt.run });
    await fw.ensure();
    const docker = ipt.chains["DOCKER-USER"] as string[];
    docker.splice(docker.indexOf("-s 198.18.0.0/15 -d 10.0.0.0/8 -j DROP"), 1);
    assert.equal(await fw.ensure(), null);
    assert.ok(docker.indexOf("-s 198.18.0.0/15 -d 10.0.0.0/8 -j DROP") > docker.lastIndexOf("-s 198.18.0.0/15 -d 10.0.0.2/32 -p tcp --dport 53 -j RETURN"));
    assert.equal(docker.filter((r) => r.endsWith("RETURN")).length, 2);
  });

  it("refuses sessions (require) with the one line when a rule cannot be installed, the reason kept for the admin", async () => {
    const failing: RunProcess = async () => ({ code: 4, signal: null, timedOut: false, stdout: "", stderr: "iptables: Permission denied (you must be root)\n", truncated: false });
    const fw = new EgressFirewall({ rules: () => egressRules(policy()), run: failing });
    await assert.rejects(fw.require(), (e: unknown) => e instanceof UserFacingError && e.message === EGRESS_REFUSAL && /Permission denied/.test(e.detail ?? ""));
  });

  it("trusts a good check for 10 s, then checks again, and a repaired firewall lets sessions in without a restart", async () => {
    let now = 0;
    let broken = true;
    const ipt = fakeIptables();
    const run: RunProcess = async (f, a, o) => (broken ? { code: 3, signal: null, timedOut: false, stdout: "", stderr: "no xtables\n", truncated: false } : ipt.run(f, a, o));
    const fw = new EgressFirewall({ rules: () => egressRules(policy()), run, now: () => now });
    await assert.rejects(fw.require());
    broken = false;
    await fw.require();
    const calls = ipt.calls;
    now = 9_999;
    await fw.require();
    assert.equal(ipt.calls, calls, "no iptables call within the trust window");
    now = 10_000;
    (ipt.chains["DOCKER-USER"] as string[]).length = 0;
    await fw.require();
    assert.deepEqual(ipt.chains["DOCKER-USER"], ["-d 169.254.169.254/32 -j DROP"], "re-checked and re-installed after the window");
  });

  it("bounds every iptables call with -w and a deadline", async () => {
    const seen: (number | undefined)[] = [];
    const args: string[][] = [];
    const fw = new EgressFirewall({ rules: () => egressRules(policy()), run: async (_f, a, o) => (seen.push(o?.timeoutMs), args.push([...a]), { code: 0, signal: null, timedOut: false, stdout: "", stderr: "", truncated: false }) });
    await fw.ensure();
    assert.ok(seen.length > 0 && seen.every((t) => t !== undefined && t > 0 && t <= 10_000));
    assert.ok(args.every((a) => a[0] === "-w" && a[1] === "5"));
  });
});
