import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FleetDns } from "../../infra/src/constructs/dns.js";
import { HostKeys } from "../../infra/src/constructs/host-keys.js";
import { sha256FingerprintToHexExpression } from "../../infra/src/constructs/tls-private-key.js";
import { bareStack, resources, SAMPLE_HOST_KEY, synth } from "./fixtures.js";
import { evaluateHcl } from "./hcl-expression.js";

describe("HostKeys", () => {
  const delivery = { parameterPrefix: "/podspawn/acme/prod", region: "eu-central-1", accountId: "123456789012", adminRoleArn: "arn:aws:iam::123456789012:role/deploy", aliasPrefix: "podspawn-acme-prod" };

  it("generates one ED25519 key per node and stores its private half as an SSM SecureString under the node's own KMS key", () => {
    const stack = bareStack();
    const keys = new HostKeys(stack, "k", { nodes: [{ name: "node-1", readerRoleArn: "arn:aws:iam::123456789012:role/n1" }, { name: "node-2", readerRoleArn: "arn:aws:iam::123456789012:role/n2" }], delivery });
    const { json } = synth(stack);
    assert.deepEqual(resources(json, "tls_private_key"), [{ algorithm: "ED25519" }, { algorithm: "ED25519" }].map((r) => ({ ...r, provider: "tls" })));
    const params = resources(json, "aws_ssm_parameter");
    assert.deepEqual(params.map((p) => [p["name"], p["type"]]), [["/podspawn/acme/prod/node-1/host-key", "SecureString"], ["/podspawn/acme/prod/node-2/host-key", "SecureString"]]);
    assert.match(String(params[0]?.["value"]), /tls_private_key\.\S+\.private_key_openssh/);
    assert.equal(keys.keys.get("node-1")?.source, "ssm:/podspawn/acme/prod/node-1/host-key");
    assert.match(String(params[0]?.["key_id"]), /aws_kms_key\.k_node-1-kms_\w+\.arn/);
    assert.deepEqual(resources(json, "aws_kms_alias").map((a) => a["name"]), ["alias/podspawn-acme-prod-node-1-host-key", "alias/podspawn-acme-prod-node-2-host-key"]);
  });

  it("takes external keys as given: no tls key, no parameter, the SSHFP digest computed here", () => {
    const stack = bareStack();
    const keys = new HostKeys(stack, "k", { nodes: [{ name: "n", readerRoleArn: "arn:aws:iam::1:role/n", publicKey: SAMPLE_HOST_KEY }], generate: false, delivery });
    const { json } = synth(stack);
    assert.equal(resources(json, "tls_private_key").length, 0);
    assert.equal(resources(json, "aws_ssm_parameter").length, 0);
    assert.equal(keys.keys.get("n")?.publicKey, SAMPLE_HOST_KEY);
    const dir = mkdtempSync(join(tmpdir(), "podspawn-ext-key-"));
    writeFileSync(join(dir, "k.pub"), `${SAMPLE_HOST_KEY}\n`);
    const record = execFileSync("ssh-keygen", ["-r", "n", "-f", join(dir, "k.pub")], { encoding: "utf8" });
    rmSync(dir, { recursive: true, force: true });
    assert.match(record, new RegExp(`SSHFP 4 2 ${keys.keys.get("n")?.sshfpSha256Hex}`));
  });

  it("exports the public halves trimmed, and keeps private keys out of SSM when no prefix is set", () => {
    const stack = bareStack();
    const keys = new HostKeys(stack, "k", { nodes: [{ name: "a" }] });
    const { text, json } = synth(stack);
    assert.equal(resources(json, "aws_ssm_parameter").length, 0);
    assert.ok(keys.keys.get("a")?.publicKey.includes("TfToken") || keys.keys.get("a")?.publicKey.includes("${"));
    assert.ok(!text.includes("private_key_openssh"), "nothing references the private key");
  });
});

describe("FleetDns", () => {
  const stack = bareStack();
  new FleetDns(stack, "dns", {
    zoneId: "Z1",
    name: "fleet.acme.test",
    fleet: "acme",
    manifestUrl: "https://b.s3.eu-central-1.amazonaws.com/fleet.json",
    sshfp: true,
    nodes: [{ name: "node-1", address: "192.0.2.1", sshfpSha256Hex: "ab" }, { name: "node-2", address: "192.0.2.2", sshfpSha256Hex: "cd" }],
  });
  const records = resources(synth(stack).json, "aws_route53_record");
  const byType = (t: string) => records.filter((r) => r["type"] === t);

  it("has an A record per node", () => {
    assert.deepEqual(byType("A").map((r) => [r["name"], r["records"]]), [["node-1.fleet.acme.test", ["192.0.2.1"]], ["node-2.fleet.acme.test", ["192.0.2.2"]]]);
  });

  it("publishes the fleet by SRV and TXT discovery records", () => {
    assert.deepEqual(byType("SRV")[0]?.["records"], ["10 10 22 node-1.fleet.acme.test.", "10 10 22 node-2.fleet.acme.test."]);
    assert.deepEqual(byType("TXT")[0]?.["records"], ["v=podspawn1 fleet=acme manifest=https://b.s3.eu-central-1.amazonaws.com/fleet.json"]);
    assert.equal(byType("TXT")[0]?.["name"], "_podspawn.fleet.acme.test");
  });

  it("adds SSHFP (Ed25519, SHA-256) records only when asked", () => {
    assert.deepEqual(byType("SSHFP").map((r) => r["records"]), [["4 2 ab"], ["4 2 cd"]]);
    const plain = bareStack();
    new FleetDns(plain, "dns", { zoneId: "Z1", name: "f.acme.test", fleet: "acme", nodes: [{ name: "n", address: "192.0.2.1" }] });
    assert.equal(resources(synth(plain).json, "aws_route53_record").filter((r) => r["type"] === "SSHFP").length, 0);
  });

  it("computes the SSHFP hex in Terraform exactly as ssh-keygen -r does (evaluated without terraform)", () => {
    // Keys and both sides of the comparison come from ssh-keygen: the fingerprint the tls provider
    // would hand to the expression (`ssh-keygen -l`), and the SSHFP record sshd's own tool prints.
    const dir = mkdtempSync(join(tmpdir(), "podspawn-sshfp-"));
    try {
      writeFileSync(join(dir, "sample.pub"), `${SAMPLE_HOST_KEY}\n`);
      for (let i = 0; i < 4; i++) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, `k${i}`)]);
      for (const file of ["sample.pub", "k0.pub", "k1.pub", "k2.pub", "k3.pub"].map((f) => join(dir, f))) {
        const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", file], { encoding: "utf8" }).split(" ")[1]!;
        const record = execFileSync("ssh-keygen", ["-r", "node", "-f", file], { encoding: "utf8" }).trim();
        const [, hex] = /^node IN SSHFP 4 2 ([0-9a-f]{64})$/m.exec(record) ?? [];
        assert.ok(hex, `ssh-keygen -r printed a SHA-256 SSHFP record: ${record}`);
        assert.equal(evaluateHcl(sha256FingerprintToHexExpression(JSON.stringify(fingerprint))), hex, file);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the HCL evaluator used above", () => {
  it("follows Terraform's semantics for what it knows, checked against terraform console by hand", () => {
    // Each value below is what `terraform console` (Terraform v1.11.4) printed for the same expression.
    const cases: [string, unknown][] = [
      ['format("%06x", 255)', "0000ff"],
      ['substr("abcdef", 2, 3)', "cde"],
      ['substr("abcdef", 2, -1)', "cdef"],
      ['split("", "abc")', ["a", "b", "c"]],
      ['index(["a", "b"], "b")', 1],
      ['replace("a=b=", "=", "A")', "aAbA"],
      ['trimprefix("SHA256:xy", "SHA256:")', "xy"],
      ["sum([for i in range(4) : i * 4 + 1])", 28],
      ["pow(64, 3 - 1)", 4096],
      ['join("", [for i in range(2, 5) : format("%d", i)])', "234"],
    ];
    for (const [expr, want] of cases) assert.deepEqual(evaluateHcl(expr), want, expr);
  });

  it("refuses what it does not implement instead of guessing", () => {
    assert.throws(() => evaluateHcl('upper("a")'), /upper\(\) is not in this evaluator's subset/);
    assert.throws(() => evaluateHcl('"${x}"'), /cannot read the expression/);
    assert.throws(() => evaluateHcl('index(["a"], "z")'), /not found/);
  });
});
