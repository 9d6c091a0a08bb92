import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { removeInstanceContainers, runCommand } from "../../scripts/local-node.js";

/**
 * A stock Debian 12 node installs Node.js 18.20 from the distro (the infra bootstrap does exactly
 * that). This runs the real agent bundles on that Node inside a container built from our own
 * debootstrapped base, with the host's Docker socket, and serves one real session.
 */
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const IMAGE = "podspawn/node18:test";

function cleanup(): void {
  removeInstanceContainers("podspawn-n18");
}

describe("agent bundles on Debian 12's Node 18", () => {
  before(async () => {
    const r = await runCommand("docker", ["build", "-q", "-t", IMAGE, join(repo, "test/fixtures/node18")], { env: { ...process.env, DOCKER_BUILDKIT: "0" }, timeoutMs: 300_000 });
    assert.equal(r.code, 0, `building ${IMAGE} (needs podspawn/base:bookworm from scripts/build-image): ${r.stderr}`);
    cleanup();
  });
  after(cleanup);

  it("prints the CLI help and an auth-keys answer", async () => {
    const r = await runCommand("docker", ["run", "--rm", "-v", `${join(repo, "dist/bundle")}:/b:ro`, IMAGE, "sh", "-c", "node --version && node /b/podspawn.cjs --help && node /b/auth-keys.cjs nobody-here; echo auth-exit=$?"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^v18\./);
    assert.match(r.stdout, /Commands:\n\s+install/);
    assert.match(r.stdout, /auth-exit=0/);
  });

  it("runs the daemon and a spawn session end to end", async () => {
    const r = await runCommand(
      "docker",
      ["run", "--rm", "-v", `${join(repo, "dist/bundle")}:/b:ro`, "-v", `${join(repo, "test/fixtures/node18/session.sh")}:/session.sh:ro`, "-v", "/var/run/docker.sock:/var/run/docker.sock", IMAGE, "sh", "/session.sh"],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /hello-from-node18\nn18user\n/);
    assert.match(r.stdout, /spawn-exit=5/);
  });
});
