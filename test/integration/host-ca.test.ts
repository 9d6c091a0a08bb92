/**
 * The node's host CA with the real ssh-keygen: generated once with private modes, and the host
 * certificates it issues are what OpenSSH reads (type host, the one principal, a bounded validity).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openHostCa } from "../../agent/src/adapters/ssh/host-ca.js";
import { INNER_HOST_PRINCIPAL } from "../../agent/src/core/ide/host-cert.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function caDir(): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), "podspawn-host-ca-"));
  dirs.push(base);
  return join(base, "host-ca");
}

describe("openHostCa", () => {
  it("generates the CA once: dir 0700, key 0600, and the same public key when opened again", async () => {
    const dir = await caDir();
    const first = await openHostCa(dir, "test CA");
    assert.match(first.publicKey, /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, "host_ca"))).mode & 0o777, 0o600);
    assert.equal((await openHostCa(dir, "test CA")).publicKey, first.publicKey);
  });

  it("issues a host certificate for the inner principal that ssh-keygen reads, signed by this CA, leaving no scratch files", async () => {
    const dir = await caDir();
    const ca = await openHostCa(dir, "test CA");
    const t0 = performance.now();
    const files = await ca.issue("podspawn:alice:web:0123456789ab");
    const ms = performance.now() - t0;
    const certFile = join(dir, "..", "cert.pub");
    await writeFile(certFile, files.certificate);
    const listing = execFileSync("ssh-keygen", ["-L", "-f", certFile]).toString();
    assert.match(listing, /Type: ssh-ed25519-cert-v01@openssh\.com host certificate/);
    assert.match(listing, /Key ID: "podspawn:alice:web:0123456789ab"/);
    assert.match(listing, new RegExp(`Principals: \\n\\s+${INNER_HOST_PRINCIPAL}\\n`));
    assert.match(listing, new RegExp(`Signing CA: ED25519 ${execFileSync("ssh-keygen", ["-lf", join(dir, "host_ca.pub")]).toString().split(" ")[1]?.replace(/[+/]/g, "\\$&")}`));
    assert.match(listing, /Valid: from \S+ to \S+/);
    assert.match(files.privateKey.toString(), /^-----BEGIN OPENSSH PRIVATE KEY-----/);
    assert.deepEqual((await readdir(dir)).sort(), ["host_ca", "host_ca.pub"]);
    process.stderr.write(`# host key + certificate issued in ${ms.toFixed(1)} ms\n`);
  });
});
