import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderClientConfig } from "../../agent/src/core/fleet/ssh-client-config.js";
import { runCommand } from "../../scripts/local-node.js";

/**
 * The generated ProxyCommand as an OpenSSH client before 9.6 runs it: percent tokens replaced by
 * the typed user and host as they are (no check, no quoting: sshconnect.c's expansion), then
 * `$SHELL -c "exec <line>"`. This machine's ssh 9.2 carries Debian's backport that refuses such
 * names, so the old client's two steps are done here by hand with the real /bin/sh. The
 * "podspawn" it runs is a stand-in that records its argv; a name full of shell syntax must arrive
 * as one word and run nothing.
 */
const dir = mkdtempSync(join(tmpdir(), "pst-proxy-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const marker = join(dir, "INJECTED");
const argvFile = join(dir, "argv");

describe("generated ssh_config with the real ssh client", () => {
  it("a .pod name and user with shell metacharacters reach connect as one word each and run nothing", async () => {
    const stub = join(dir, "podspawn");
    writeFileSync(stub, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > ${argvFile}\nexit 1\n`);
    chmodSync(stub, 0o755);
    const config = join(dir, "config");
    const text = renderClientConfig({
      manifest: { version: 1, fleet: "dev", domain: "pod", nodes: [{ name: "fa", address: "127.0.0.2", port: 2240, hostKeys: [] }] },
      command: [stub],
      manifestSource: join(dir, "fleet.json"),
      knownHostsFile: join(dir, "known_hosts"),
      configFile: config,
      projects: ["work"],
    });
    writeFileSync(config, text);
    const host = `x$(touch ${marker})\`touch ${marker}\`;touch ${marker}.pod`;
    const user = `u$(touch ${marker});touch ${marker}`;
    const catchAll = /^Host \*\.pod\n {2}ProxyCommand (.*)$/m.exec(text)?.[1];
    assert.ok(catchAll, text);
    const expanded = catchAll.replace(/%(%|r|h|p)/g, (_m, t: string) => ({ "%": "%", r: user, h: host, p: "22" })[t] as string);
    const r = await runCommand("/bin/sh", ["-c", `exec ${expanded}`], { timeoutMs: 20_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(existsSync(marker), false, `the shell ran injected text: ${r.stderr}`);
    assert.deepEqual(readFileSync(argvFile, "utf8").split("\n").slice(0, -1), ["connect", "--manifest", join(dir, "fleet.json"), "--refuse-unlisted", user, host, "22"]);
  });
});
