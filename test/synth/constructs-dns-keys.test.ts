import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { FleetDns } from "../../infra/src/constructs/dns.js";
import { HostKeys } from "../../infra/src/constructs/host-keys.js";
import { sha256FingerprintToHexExpression } from "../../infra/src/constructs/tls-private-key.js";
import { fingerprintOf } from "../../agent/src/core/users/keys.js";
import { bareStack, resources, SAMPLE_HOST_KEY, synth } from "./fixtures.js";

describe("HostKeys", () => {
  it("generates one ED25519 key per node and stores its private half as an SSM SecureString", () => {
    const stack = bareStack();
    const keys = new HostKeys(stack, "k", { nodes: ["node-1", "node-2"], ssmParameterPrefix: "/podspawn/acme/prod" });
    const { json } = synth(stack);
    assert.deepEqual(resources(json, "tls_private_key"), [{ algorithm: "ED25519" }, { algorithm: "ED25519" }].map((r) => ({ ...r, provider: "tls" })));
    const params = resources(json, "aws_ssm_parameter");
    assert.deepEqual(params.map((p) => [p["name"], p["type"]]), [["/podspawn/acme/prod/node-1/host-key", "SecureString"], ["/podspawn/acme/prod/node-2/host-key", "SecureString"]]);
    assert.match(String(params[0]?.["value"]), /tls_private_key\.\S+\.private_key_openssh/);
    assert.equal(keys.keys.get("node-1")?.source, "ssm:/podspawn/acme/prod/node-1/host-key");
  });

  it("exports the public halves trimmed, and keeps private keys out of SSM when no prefix is set", () => {
    const stack = bareStack();
    const keys = new HostKeys(stack, "k", { nodes: ["a"] });
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
    manifestUrl: "s3://b/manifest/fleet.json",
    sshfp: true,
    nodes: [{ name: "node-1", address: "192.0.2.1", sshfpSha256HexExpression: "\"ab\"" }, { name: "node-2", address: "192.0.2.2", sshfpSha256HexExpression: "\"cd\"" }],
  });
  const records = resources(synth(stack).json, "aws_route53_record");
  const byType = (t: string) => records.filter((r) => r["type"] === t);

  it("has an A record per node", () => {
    assert.deepEqual(byType("A").map((r) => [r["name"], r["records"]]), [["node-1.fleet.acme.test", ["192.0.2.1"]], ["node-2.fleet.acme.test", ["192.0.2.2"]]]);
  });

  it("publishes the fleet by SRV and TXT discovery records", () => {
    assert.deepEqual(byType("SRV")[0]?.["records"], ["10 10 22 node-1.fleet.acme.test.", "10 10 22 node-2.fleet.acme.test."]);
    assert.deepEqual(byType("TXT")[0]?.["records"], ["v=podspawn1 fleet=acme manifest=s3://b/manifest/fleet.json"]);
    assert.equal(byType("TXT")[0]?.["name"], "_podspawn.fleet.acme.test");
  });

  it("adds SSHFP (Ed25519, SHA-256) records only when asked", () => {
    assert.deepEqual(byType("SSHFP").map((r) => r["records"]), [['4 2 ${"ab"}'], ['4 2 ${"cd"}']]);
    const plain = bareStack();
    new FleetDns(plain, "dns", { zoneId: "Z1", name: "f.acme.test", fleet: "acme", nodes: [{ name: "n", address: "192.0.2.1" }] });
    assert.equal(resources(synth(plain).json, "aws_route53_record").filter((r) => r["type"] === "SSHFP").length, 0);
  });

  it("computes the SSHFP hex in Terraform exactly as ssh-keygen -r does (terraform console, offline)", () => {
    const blob = Buffer.from(SAMPLE_HOST_KEY.split(" ")[1] as string, "base64");
    const expected = createHash("sha256").update(blob).digest("hex");
    const expr = sha256FingerprintToHexExpression(JSON.stringify(fingerprintOf(blob)));
    const out = execFileSync("terraform", ["console"], { input: expr + "\n", env: { ...process.env, CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: "/dev/null" }, cwd: "/tmp" }).toString().trim();
    assert.equal(out, JSON.stringify(expected));
  });
});
