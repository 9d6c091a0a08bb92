/**
 * A network namespace of the test's own, joined to the host by a veth pair on a /30: a server in
 * it is an outside address for containers (they reach it through their bridge, the host's
 * forwarding and NAT), not the host itself, whose INPUT chain may (rightly) refuse them. Whatever
 * a previous run left under the same names goes first. Returns the clean-up.
 */
import assert from "node:assert/strict";
import { runCommand } from "../../scripts/local-node.js";

export interface VethEnd {
  readonly dev: string;
  readonly ip: string;
}

async function must(args: readonly string[]): Promise<void> {
  const r = await runCommand("ip", args);
  assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
}

export async function vethNetns(netns: string, host: VethEnd, inside: VethEnd): Promise<() => Promise<void>> {
  const drop = async (): Promise<void> => {
    await runCommand("ip", ["link", "del", host.dev]);
    await runCommand("ip", ["netns", "del", netns]);
  };
  await drop();
  await must(["netns", "add", netns]);
  await must(["link", "add", host.dev, "type", "veth", "peer", "name", inside.dev]);
  await must(["link", "set", inside.dev, "netns", netns]);
  await must(["addr", "add", `${host.ip}/30`, "dev", host.dev]);
  await must(["link", "set", host.dev, "up"]);
  await must(["-n", netns, "addr", "add", `${inside.ip}/30`, "dev", inside.dev]);
  await must(["-n", netns, "link", "set", inside.dev, "up"]);
  await must(["-n", netns, "link", "set", "lo", "up"]);
  return drop;
}
