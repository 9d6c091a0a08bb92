import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { runCommand } from "../../scripts/local-node.js";

/**
 * The bundles run as root (the daemon, admin commands) and for every login. A bare `require` of a
 * module they do not contain makes Node search node_modules in every ancestor of the bundle's
 * dir, $NODE_PATH, $HOME/.node_modules and $HOME/.node_libraries (ssh2's optional `cpu-features`
 * did, on every start). Here every one of those places holds a planted module under every name
 * the bundles could ask for; none of them may ever be loaded.
 */
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const PLANTED = ["cpu-features", "ssh2", "dockerode", "yaml", "zod", "tar-stream"];

let root = "";
let markers = "";

function plant(modulesDir: string): void {
  for (const name of PLANTED) {
    mkdirSync(join(modulesDir, name), { recursive: true });
    const marker = JSON.stringify(join(markers, `${name}@${modulesDir.replace(/\//g, "_")}`));
    writeFileSync(join(modulesDir, name, "index.js"), `require("fs").writeFileSync(${marker}, "loaded"); module.exports = () => null;\n`);
  }
}

describe("the bundles never load a module from the host", () => {
  before(() => {
    root = mkdtempSync(join(tmpdir(), "pst-plant-"));
    markers = join(root, "markers");
    mkdirSync(markers);
    mkdirSync(join(root, "usr", "lib", "inst"), { recursive: true });
    for (const b of ["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"]) copyFileSync(join(repo, "dist", "bundle", b), join(root, "usr", "lib", "inst", b));
    plant(join(root, "node_modules"));
    plant(join(root, "usr", "node_modules"));
    plant(join(root, "usr", "lib", "node_modules"));
    plant(join(root, "home", ".node_modules"));
    plant(join(root, "home", ".node_libraries"));
    plant(join(root, "node-path"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("planted modules in ancestor node_modules, $NODE_PATH and $HOME are never required by the CLI bundle (which the daemon runs), spawn or auth-keys", async () => {
    const env = { PATH: "/usr/bin:/bin", HOME: join(root, "home"), NODE_PATH: join(root, "node-path"), PODSPAWN_INSTANCE: "pst-plant" };
    const lib = join(root, "usr", "lib", "inst");
    const runs: [string, string[]][] = [
      ["podspawn.cjs", ["--help"]],
      ["podspawn.cjs", ["list-users"]],
      ["spawn.cjs", []],
      ["auth-keys.cjs", ["nobody-here", "ssh-ed25519", "AAAA"]],
    ];
    for (const [bundle, args] of runs) {
      const r = await runCommand(process.execPath, [join(lib, bundle), ...args], { env, timeoutMs: 30_000 });
      assert.ok(r.code !== null, `${bundle} ${args.join(" ")} ran`);
    }
    assert.ok(existsSync(join(root, "node_modules", "cpu-features", "index.js")), "the planted modules are in place");
    assert.deepEqual(readdirSync(markers), []);
  });
});
