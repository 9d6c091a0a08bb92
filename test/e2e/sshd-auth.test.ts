import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCommand } from "../../scripts/local-node.js";
import { layout, startNode, type NodeHandle } from "./harness.js";

/**
 * Logins that do not come through one of our key lines. The site's own sshd config trusts a user
 * CA globally (as many do); a pod user holding a certificate from it must not get in, and a key
 * line without our forced command (a hand edit, another tool) must still land in the container.
 * Either would otherwise run the client's command in a host shell as the pod account.
 */
const USER = "e2e-auth";
let node: NodeHandle;
let caDir = "";
const HOST_MARKER = "/tmp/podspawn-e2e-auth-host-marker";

before(async () => {
  caDir = await mkdtemp(join(tmpdir(), "podspawn-e2e-ca-"));
  const r = await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "site-ca", "-f", join(caDir, "ca")]);
  assert.equal(r.code, 0, r.stderr);
  node = await startNode([USER], { sshdExtraConfig: [`TrustedUserCAKeys ${join(caDir, "ca.pub")}`] });
});
after(async () => {
  await node?.stop();
  await rm(caDir, { recursive: true, force: true });
  await rm(HOST_MARKER, { force: true });
});

/** A command that leaves a file on the HOST if a host shell runs it, and says where it ran. */
const PROBE = `touch ${HOST_MARKER}; echo "ran-on=$(hostname) as=$(id -un)"`;

describe("logins without our key lines", () => {
  it("a certificate from a user CA the site trusts globally does not log a pod user in, and runs nothing on the host", async () => {
    const key = join(caDir, "user");
    assert.equal((await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])).code, 0);
    const signed = await runCommand("ssh-keygen", ["-q", "-s", join(caDir, "ca"), "-I", "site-cert", "-n", USER, "-V", "+1h", `${key}.pub`]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.ok(existsSync(`${key}-cert.pub`));
    const sshdLogBefore = (await readFile(node.sshdLog, "utf8")).length;
    const r = await node.ssh(USER, ["-o", `CertificateFile=${key}-cert.pub`, PROBE], { key });
    assert.equal(r.code, 255, `login must fail: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    assert.equal(r.stdout, "");
    assert.equal(existsSync(HOST_MARKER), false, "nothing ran on the host");
    // The CA is really trusted outside the Match block: sshd saw the certificate and refused it.
    const log = (await readFile(node.sshdLog, "utf8")).slice(sshdLogBefore);
    assert.match(log, new RegExp(`Failed publickey for ${USER} .* ED25519-CERT`));
  });

  it("a key line without our forced command (hand-edited) still runs spawn and lands in the container, never a host shell", async () => {
    const file = join(layout.authorizedKeysDir, USER);
    const rendered = await readFile(file, "utf8");
    const bare = (await readFile(`${node.keyFor(USER)}.pub`, "utf8")).trim();
    try {
      await writeFile(file, `${bare}\n`);
      const r = await node.ssh(USER, [PROBE]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `ran-on=default as=${USER}\n`);
      assert.equal(existsSync(HOST_MARKER), false, "nothing ran on the host");
    } finally {
      await writeFile(file, rendered);
    }
  });
});
