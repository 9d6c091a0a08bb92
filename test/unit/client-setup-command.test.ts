import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { makeClientSetupCommand } from "../../agent/src/cli/commands/client/client-setup.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { freshEd25519 } from "./helpers/test-keys.js";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

let home: string;
let manifest: string;
const key = freshEd25519().split(" ").slice(0, 2).join(" ");
before(async () => {
  home = await mkdtemp(join(tmpdir(), "podspawn-client-setup-"));
  manifest = join(home, "fleet.json");
  await writeFile(manifest, JSON.stringify({ version: 1, fleet: "dev", domain: "pod", nodes: [{ name: "fa", address: "127.0.0.2", port: 2240, hostKeys: [key] }] }));
});
after(async () => {
  await rm(home, { recursive: true, force: true });
});

async function setup(args: string[]) {
  const stdout = new Sink();
  const stderr = new Sink();
  const cmd = makeClientSetupCommand({ program: () => ["/usr/bin/node", "/opt/podspawn.cjs"] });
  const code = await cmd.run(["--manifest", manifest, ...args], { stdout, stderr, env: { HOME: home }, layout: layoutFor() });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("podspawn client-setup", () => {
  it("--dry-run prints both files and writes nothing", async () => {
    const r = await setup(["--project", "work", "--dry-run"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /# would write .*\.ssh\/podspawn\/config/);
    assert.match(r.stdout, /SetEnv PODSPAWN_PROJECT=work/);
    assert.match(r.stdout, /podspawn-dev ssh-ed25519 /);
    await assert.rejects(stat(join(home, ".ssh")), /ENOENT/);
  });

  it("writes the config and known_hosts (0644) in a 0700 dir and prints the Include line", async () => {
    const r = await setup(["--project", "work", "--project", "web"]);
    assert.equal(r.code, 0, r.stderr);
    const dir = join(home, ".ssh", "podspawn");
    assert.equal(r.stdout, `Include ${dir}/config\n`);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, "config"))).mode & 0o777, 0o644);
    assert.equal((await stat(join(dir, "known_hosts"))).mode & 0o777, 0o644);
    const config = await readFile(join(dir, "config"), "utf8");
    assert.match(config, /ProxyCommand \/usr\/bin\/node \/opt\/podspawn\.cjs connect --manifest \S+fleet\.json '%r' '%h' %p/);
    assert.match(config, /^Host web\.pod web\.dev\.pod$/m);
    assert.match(r.stderr, /add this line at the TOP of ~\/\.ssh\/config/);
  });

  it("leaves ~/.ssh/config alone unless --write-include, then adds the line at the top once", async () => {
    const userConfig = join(home, ".ssh", "config");
    await assert.rejects(stat(userConfig), /ENOENT/);
    await writeFile(userConfig, "Host *\n  ServerAliveInterval 30\n", { mode: 0o600 });
    await setup(["--project", "work", "--write-include"]);
    const once = await readFile(userConfig, "utf8");
    assert.match(once, new RegExp(`^# Added by .*\\nInclude ${join(home, ".ssh", "podspawn", "config").replace(/[.]/g, "\\.")}\\n\\nHost \\*\\n`));
    assert.equal((await stat(userConfig)).mode & 0o777, 0o600, "keeps the file's mode");
    const again = await setup(["--project", "work", "--write-include"]);
    assert.equal(await readFile(userConfig, "utf8"), once);
    assert.match(again.stderr, /already includes it at the top/);
  });

  it("refuses a bad project name before writing anything", async () => {
    await assert.rejects(setup(["--project", "No Way", "--dir", join(home, "other")]), /--project: "No Way" is not a valid project name/);
    await assert.rejects(stat(join(home, "other")), /ENOENT/);
  });
});
