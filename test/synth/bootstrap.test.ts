import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { packAgentBundle, sha256Hex } from "../../infra/src/bootstrap/agent-bundle.js";
import { renderBootstrapScript, type BootstrapParams } from "../../infra/src/bootstrap/bootstrap-script.js";
import { renderUserData, USER_DATA_LIMIT_BYTES } from "../../infra/src/bootstrap/user-data.js";
import { readTarFiles } from "../../agent/src/support/tar.js";
import { InputError } from "../../agent/src/core/errors.js";

const SHA = "a".repeat(64);
const cloud: BootstrapParams = {
  instance: "podspawn",
  artifactUrl: `s3://acme-artifacts/agent/${SHA}.tar.gz`,
  artifactSha256: SHA,
  usersUrl: "s3://acme-artifacts/config/users.json",
  awsRegion: "eu-central-1",
  hostKeyUrl: "ssm:/podspawn/acme/prod/node-1/host-key",
};

describe("bootstrap script", () => {
  it("is valid bash for cloud and local sources", () => {
    for (const p of [cloud, { ...cloud, artifactUrl: "file:///opt/a.tgz", usersUrl: "http://127.0.0.1:8080/users.json", hostKeyUrl: undefined, awsRegion: undefined }]) {
      execFileSync("bash", ["-n"], { input: renderBootstrapScript(p) });
    }
  });

  it("checks the artifact's sha256 before unpacking it", () => {
    const s = renderBootstrapScript(cloud);
    assert.match(s, new RegExp(`ARTIFACT_SHA256='${SHA}'`));
    const check = s.indexOf("sha256sum -c");
    assert.ok(check > 0 && check < s.indexOf("tar -xzf"), "sha256 check must precede tar");
  });

  it("only calls apt-get for commands that are missing", () => {
    const s = renderBootstrapScript(cloud);
    for (const [cmd, pkg] of [["node", "nodejs"], ["docker", "docker.io"], ["aws", "awscli"]]) {
      assert.match(s, new RegExp(`command -v ${cmd} >/dev/null 2>&1 \\|\\| need\\+=\\(${pkg}\\)`));
    }
    assert.match(s, /if \[ "\$\{#need\[@\]\}" -gt 0 \]; then/);
  });

  it("runs the same install and server-setup commands an admin runs, then the daemon and sync timer", () => {
    const s = renderBootstrapScript(cloud);
    assert.match(s, /podspawn\.cjs" install --instance "\$INSTANCE" --bundle-dir "\$dir" --node "\$node"/);
    assert.match(s, /"\$COMMAND" server-setup/);
    assert.match(s, /\$COMMAND sync --file/);
    assert.match(s, /OnUnitActiveSec=\$SYNC_INTERVAL/);
    assert.match(s, /systemctl enable --now "\$INSTANCE"d\.service/);
  });

  it("blocks the metadata address for containers in DOCKER-USER, v4 and v6, and persists it", () => {
    const s = renderBootstrapScript(cloud);
    assert.match(s, /iptables:169\.254\.169\.254\/32 ip6tables:fd00:ec2::254\/128/);
    // Escaped once for the heredoc that writes the persistent firewall script.
    assert.match(s, /-I DOCKER-USER -d "\\\$dst" -m comment --comment \$INSTANCE-imds -j DROP/);
    assert.match(s, /WantedBy=multi-user.target docker.service/);
  });

  it("refuses values that would break out of the script", () => {
    assert.throws(() => renderBootstrapScript({ ...cloud, artifactUrl: "s3://b/k';rm -rf /;'" }), InputError);
    assert.throws(() => renderBootstrapScript({ ...cloud, artifactSha256: "abc" }), InputError);
    assert.throws(() => renderBootstrapScript({ ...cloud, instance: "other" }), InputError);
    assert.throws(() => renderBootstrapScript({ ...cloud, awsRegion: "eu central" }), InputError);
    fc.assert(fc.property(fc.string(), (junk) => {
      try {
        const s = renderBootstrapScript({ ...cloud, usersUrl: `file:///x${junk}` });
        return !/[';`$\n]/.test(junk) && s.includes(`USERS_URL='file:///x${junk}'`);
      } catch (err) {
        return err instanceof InputError;
      }
    }));
  });
});

describe("user data", () => {
  it("is gzip of the script, within 16 KB, and deterministic", () => {
    const script = renderBootstrapScript(cloud);
    const ud = renderUserData(script);
    assert.ok(ud.gzipBytes <= USER_DATA_LIMIT_BYTES, `${ud.gzipBytes} bytes`);
    assert.equal(gunzipSync(Buffer.from(ud.base64, "base64")).toString("utf8"), script);
    assert.equal(renderUserData(script).base64, ud.base64);
  });

  it("fails synth when the script would exceed the EC2 limit", () => {
    const big = Array.from({ length: 40_000 }, (_, i) => `# ${sha256Hex(String(i))}`).join("\n");
    assert.throws(() => renderUserData(big), /over the EC2 limit/);
  });
});

describe("agent artifact packing", () => {
  const files = new Map([["podspawn.cjs", Buffer.from("a")], ["spawn.cjs", Buffer.from("b")], ["auth-keys.cjs", Buffer.from("c")]]);

  it("holds exactly the three bundles and hashes the same every time", async () => {
    const tgz = await packAgentBundle(files);
    assert.equal(sha256Hex(await packAgentBundle(files)), sha256Hex(tgz));
    const out = await readTarFiles(gunzipSync(tgz));
    assert.deepEqual([...out.keys()].sort(), ["auth-keys.cjs", "podspawn.cjs", "spawn.cjs"]);
    assert.equal(out.get("spawn.cjs")?.toString(), "b");
  });

  it("is readable by the system tar the bootstrap uses", async () => {
    const listing = execFileSync("tar", ["-tz"], { input: await packAgentBundle(files) }).toString().trim().split("\n").sort();
    assert.deepEqual(listing, ["auth-keys.cjs", "podspawn.cjs", "spawn.cjs"]);
  });

  it("refuses a bundle with a file missing", async () => {
    const partial = new Map(files);
    partial.delete("auth-keys.cjs");
    await assert.rejects(() => packAgentBundle(partial), /missing auth-keys\.cjs/);
  });
});
