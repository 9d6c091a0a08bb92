/**
 * A read-only `git daemon` in a network namespace of the test's own (veth-netns.ts): repositories
 * under `baseDir` are `git://<inside.ip>/<name>` to containers, an outside address they reach
 * through their bridge and NAT, as they would a real forge. Returns once `probeRepo` answers
 * `git ls-remote`; `stop` ends the daemon and removes the namespace.
 */
import { spawn } from "node:child_process";
import { runCommand } from "../../scripts/local-node.js";
import { vethNetns, type VethEnd } from "./veth-netns.js";

export interface GitDaemon {
  readonly url: (repo: string) => string;
  stop(): Promise<void>;
}

export async function startGitDaemon(o: { readonly netns: string; readonly host: VethEnd; readonly inside: VethEnd; readonly baseDir: string; readonly probeRepo: string }): Promise<GitDaemon> {
  const dropNetns = await vethNetns(o.netns, o.host, o.inside);
  const url = (repo: string): string => `git://${o.inside.ip}/${repo}`;
  const daemon = spawn("nsenter", [`--net=/run/netns/${o.netns}`, "git", "daemon", "--export-all", "--reuseaddr", `--base-path=${o.baseDir}`, `--listen=${o.inside.ip}`, "--port=9418", o.baseDir], { stdio: "ignore" });
  const stop = async (): Promise<void> => {
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill("SIGTERM");
    await dropNetns();
  };
  for (let i = 0; i < 50; i++) {
    if ((await runCommand("git", ["ls-remote", url(o.probeRepo)])).code === 0) return { url, stop };
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error("the test's git daemon did not come up");
}
