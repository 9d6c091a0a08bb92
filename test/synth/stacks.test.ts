import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { Testing } from "cdktf";
import { validateFleetManifest } from "../../agent/src/core/fleet/fleet-manifest.js";
import { buildApp } from "../../infra/src/app.js";
import { USER_DATA_LIMIT_BYTES } from "../../infra/src/bootstrap/user-data.js";
import { parseUsersConfig } from "../../agent/src/core/config/users-config.js";
import { AwsFleetStack } from "../../infra/src/stacks/aws-fleet.js";
import { LocalFleetStack } from "../../infra/src/stacks/local-fleet.js";
import { awsEnv, DEPLOY_ROLE, fakeAgent, fakeProjects, GIT, localEnv, resources, SAMPLE_HOST_KEY, synth, type Synthesized } from "./fixtures.js";

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, "..", "..", "..", "test", "synth", "golden");
const agent = await fakeAgent();
const projects = await fakeProjects();

function aws(env = awsEnv({ nodes: [{ name: "node-1" }, { name: "node-2" }], sshIngressCidrs: ["203.0.113.0/24", "198.51.100.7/32"] })): { text: string; json: Synthesized } {
  return synth(new AwsFleetStack(Testing.app(), "aws-test", { env, git: GIT, agent }));
}

/** Deploy-time interpolations replaced by realistic values, then the client's own validator. */
function manifestFrom(text: string): unknown {
  return JSON.parse(text.replace(/\$\{trimspace\(tls_private_key\.[^}]*\)\}/g, SAMPLE_HOST_KEY));
}

function doc(json: Synthesized, match: string): { statement: Record<string, unknown>[] }[] {
  return Object.entries(json.data["aws_iam_policy_document"] ?? {}).filter(([k]) => k.includes(match)).map(([, v]) => v as { statement: Record<string, unknown>[] });
}

describe("aws-fleet stack", () => {
  const { text, json } = aws();
  const instances = () => Object.entries(json.resource["aws_instance"] ?? {});

  it("requires IMDSv2 (hop limit 1) and encrypted roots on every instance", () => {
    const all = resources(json, "aws_instance");
    assert.equal(all.length, 2);
    for (const i of all) {
      assert.equal((i["metadata_options"] as Record<string, unknown>)["http_tokens"], "required");
      assert.equal((i["metadata_options"] as Record<string, unknown>)["http_put_response_hop_limit"], 1);
      assert.equal((i["root_block_device"] as Record<string, unknown>)["encrypted"], true);
    }
  });

  it("lets only port 22 in, only from the configured CIDRs", () => {
    const ingress = resources(json, "aws_vpc_security_group_ingress_rule");
    assert.deepEqual(ingress.map((r) => [r["from_port"], r["to_port"], r["ip_protocol"], r["cidr_ipv4"]]), [[22, 22, "tcp", "203.0.113.0/24"], [22, 22, "tcp", "198.51.100.7/32"]]);
    assert.equal(resources(json, "aws_security_group_rule").length, 0);
    assert.ok(resources(json, "aws_security_group").every((sg) => sg["ingress"] === undefined));
  });

  it("keeps the artifact bucket private, encrypted and TLS-only, and lets only the deploy role write releases", () => {
    assert.equal(resources(json, "aws_s3_bucket_public_access_block").find((b) => String(b["bucket"]).includes("artifacts"))?.["restrict_public_buckets"], true);
    const policy = doc(json, "artifacts_policy")[0];
    assert.ok(policy?.statement.some((s) => s["sid"] === "DenyInsecureTransport"));
    assert.ok(policy?.statement.every((s) => s["effect"] === "Deny"));
    const writes = policy?.statement.find((s) => s["sid"] === "OnlyTheDeployRoleWritesReleases");
    assert.deepEqual(writes?.["condition"], [{ test: "ArnNotEquals", variable: "aws:PrincipalArn", values: [DEPLOY_ROLE] }]);
    assert.ok((writes?.["actions"] as string[]).includes("s3:PutObject"));
    assert.deepEqual((writes?.["resources"] as string[]).map((r) => r.replace(/^\$\{[^}]+\}/, "BUCKET")), ["BUCKET/agent/*", "BUCKET/config/*"]);
    for (const o of resources(json, "aws_s3_object")) assert.equal(o["server_side_encryption"] ?? "AES256", "AES256");
  });

  it("attaches no AWS-managed policy: each node role has only its own inline policy", () => {
    assert.equal(resources(json, "aws_iam_role_policy_attachment").length, 0);
    assert.ok(!text.includes("AmazonSSMManagedInstanceCore"));
    assert.equal(resources(json, "aws_iam_role_policy").length, 2);
  });

  it("lets each node read the releases, write only its own status, and read and decrypt only its own host key", () => {
    const reads = doc(json, "_reads_");
    assert.equal(reads.length, 2);
    reads.forEach((d, i) => {
      const byAction = Object.fromEntries(d.statement.map((s) => [(s["actions"] as string[]).join(","), s["resources"] as string[]]));
      assert.deepEqual(Object.keys(byAction), ["s3:GetObject", "s3:PutObject", "ssm:GetParameter", "kms:Decrypt"]);
      assert.deepEqual(byAction["s3:GetObject"], ["arn:aws:s3:::acme-podspawn-test/agent/*", "arn:aws:s3:::acme-podspawn-test/config/users-*", "arn:aws:s3:::acme-podspawn-test/config/users.sha256"]);
      assert.deepEqual(byAction["s3:PutObject"], [`arn:aws:s3:::acme-podspawn-test/status/node-${i + 1}.json`]);
      assert.deepEqual(byAction["ssm:GetParameter"], [`arn:aws:ssm:eu-central-1:\${data.aws_caller_identity.account.account_id}:parameter/podspawn/acme/test/node-${i + 1}/host-key`]);
      assert.match(String(byAction["kms:Decrypt"]?.[0]), new RegExp(`aws_kms_key\\.host-keys_node-${i + 1}-kms_\\w+\\.arn`));
      assert.ok(d.statement.every((s) => s["effect"] === "Allow" && !(s["resources"] as string[]).includes("*")));
    });
  });

  it("encrypts each host key with a KMS key of its own that only that node's role may decrypt", () => {
    const params = resources(json, "aws_ssm_parameter");
    assert.equal(params.length, 2);
    params.forEach((p, i) => {
      assert.equal(p["type"], "SecureString");
      assert.match(String(p["key_id"]), new RegExp(`aws_kms_key\\.host-keys_node-${i + 1}-kms_\\w+\\.arn`));
    });
    const keys = resources(json, "aws_kms_key");
    assert.equal(keys.length, 2);
    assert.ok(keys.every((k) => k["enable_key_rotation"] === true));
    doc(json, "-kms-policy").forEach((d, i) => {
      const decrypt = d.statement.find((s) => s["sid"] === "OnlyThisNodeDecryptsItsHostKey");
      const principals = (decrypt?.["principals"] as { identifiers: string[] }[])[0]?.identifiers ?? [];
      assert.equal(principals.length, 1);
      assert.match(principals[0] ?? "", new RegExp(`aws_iam_role\\.node-node-${i + 1}-role_\\w+\\.arn`));
      assert.deepEqual(decrypt?.["actions"], ["kms:Decrypt"]);
      const conditions = (decrypt?.["condition"] as { variable: string; values: string[] }[]).map((c) => [c.variable, c.values[0]]);
      assert.deepEqual(conditions[0], ["kms:EncryptionContext:PARAMETER_ARN", `arn:aws:ssm:eu-central-1:\${data.aws_caller_identity.account.account_id}:parameter/podspawn/acme/test/node-${i + 1}/host-key`]);
      const admin = d.statement.find((s) => s["sid"] === "DeployRoleAdministers");
      assert.deepEqual((admin?.["principals"] as { identifiers: string[] }[])[0]?.identifiers, [DEPLOY_ROLE]);
    });
  });

  it("pins the AMI: no lookup, the configured id on every instance, a per-node override for rolling", () => {
    assert.equal(Object.keys(json.data["aws_ami"] ?? {}).length, 0);
    assert.deepEqual(resources(json, "aws_instance").map((i) => i["ami"]), ["ami-0123456789abcdef0", "ami-0123456789abcdef0"]);
    const rolled = aws(awsEnv({ nodes: [{ name: "node-1", amiId: "ami-0fedcba9876543210", allowReplacement: true }, { name: "node-2" }] })).json;
    assert.deepEqual(resources(rolled, "aws_instance").map((i) => i["ami"]), ["ami-0fedcba9876543210", "ami-0123456789abcdef0"]);
  });

  it("orders every instance after everything its user-data fetches", () => {
    for (const [id, inst] of instances()) {
      const deps = (inst["depends_on"] as string[]).join(" ");
      const node = /node-(node-\d)_instance/.exec(id)?.[1] ?? "";
      for (const want of ["aws_s3_object.agent_object", "aws_s3_object.agent_pointer", "aws_s3_object.users_object", "aws_s3_object.users_pointer", `aws_iam_role_policy.node-${node}-role_reads-policy`, `aws_kms_key.host-keys_${node}-kms`, `aws_ssm_parameter.host-keys_${node}-host-key-param`, "aws_route_table_association.network_public-0-routes"]) {
        assert.ok(deps.includes(want), `${id} depends on ${want}: ${deps}`);
      }
    }
    const pointer = resources(json, "aws_s3_object").find((o) => o["key"] === "agent/current.sha256");
    assert.match(String((pointer?.["depends_on"] as string[]).join(",")), /^aws_s3_object\.agent_object_\w+$/);
  });

  it("keeps user-data byte-identical when only the agent changes: a release replaces no instance", async () => {
    const other = await fakeAgent("2");
    assert.notEqual(other.sha256, agent.sha256);
    const env = awsEnv({ nodes: [{ name: "node-1" }, { name: "node-2" }] });
    const before = synth(new AwsFleetStack(Testing.app(), "aws-test", { env, git: GIT, agent })).json;
    const after = synth(new AwsFleetStack(Testing.app(), "aws-test", { env, git: GIT, agent: other })).json;
    assert.deepEqual(resources(after, "aws_instance").map((i) => i["user_data_base64"]), resources(before, "aws_instance").map((i) => i["user_data_base64"]));
    const pointer = (j: Synthesized) => resources(j, "aws_s3_object").find((o) => o["key"] === "agent/current.sha256")?.["content"];
    assert.equal(pointer(before), `${agent.sha256}\n`);
    assert.equal(pointer(after), `${other.sha256}\n`);
    // And a users change neither: the users file is behind its own pointer.
    const users = parseUsersConfig("version: 1\nusers: []\n", "users.yaml");
    const noUsers = synth(new AwsFleetStack(Testing.app(), "aws-test", { env, git: { ...GIT, users }, agent })).json;
    assert.deepEqual(resources(noUsers, "aws_instance").map((i) => i["user_data_base64"]), resources(before, "aws_instance").map((i) => i["user_data_base64"]));
  });

  it("boots nodes with gzipped user-data under 16 KB that follows the pointers and reports status", () => {
    for (const [i, inst] of resources(json, "aws_instance").entries()) {
      const gz = Buffer.from(String(inst["user_data_base64"]), "base64");
      assert.ok(gz.length <= USER_DATA_LIMIT_BYTES);
      const script = gunzipSync(gz).toString();
      assert.ok(script.includes("AGENT_POINTER_URL='s3://acme-podspawn-test/agent/current.sha256'"));
      assert.ok(script.includes("USERS_POINTER_URL='s3://acme-podspawn-test/config/users.sha256'"));
      assert.ok(script.includes(`STATUS_URL='s3://acme-podspawn-test/status/node-${i + 1}.json'`));
      assert.ok(script.includes(`HOST_KEY_URL='ssm:/podspawn/acme/test/node-${i + 1}/host-key'`));
      assert.ok(!script.includes(agent.sha256), "no release hash in user-data");
    }
  });

  it("guards every node with prevent_destroy, lifted for the one node allowed to be replaced", () => {
    assert.deepEqual(resources(json, "aws_instance").map((i) => (i["lifecycle"] as Record<string, unknown>)["prevent_destroy"]), [true, true]);
    const one = aws(awsEnv({ nodes: [{ name: "node-1" }, { name: "node-2", allowReplacement: true }] })).json;
    assert.deepEqual(resources(one, "aws_instance").map((i) => (i["lifecycle"] as Record<string, unknown>)["prevent_destroy"]), [true, false]);
    assert.throws(() => aws(awsEnv({ nodes: [{ name: "node-1", allowReplacement: true }, { name: "node-2", allowReplacement: true }] })), /nodes: 2 nodes allow replacement at once \(node-1, node-2\) \(allowed: at most 1 \(maxReplacements\): replace nodes one at a time\)/);
  });

  it("keeps each node in its subnet when another node is removed", () => {
    const subnets = (j: Synthesized): Record<string, unknown> => Object.fromEntries(Object.entries(j.resource["aws_instance"] ?? {}).map(([id, i]) => [id, i["subnet_id"]]));
    const three = aws(awsEnv({ nodes: [{ name: "a" }, { name: "b" }, { name: "c" }] })).json;
    const two = aws(awsEnv({ nodes: [{ name: "b" }, { name: "c" }] })).json;
    const kept = subnets(two);
    for (const [id, subnet] of Object.entries(kept)) assert.equal(subnets(three)[id], subnet, id);
    const pinned = aws(awsEnv({ nodes: [{ name: "a", subnet: 1 }] })).json;
    assert.match(String(resources(pinned, "aws_instance")[0]?.["subnet_id"]), /aws_subnet\.network_public-1_/);
  });

  it("refuses, at synth, node names that overflow the IAM name prefix", () => {
    assert.throws(() => aws(awsEnv({ nodes: [{ name: "n".repeat(29) }] })), /nodes\[0\]\.name: "n{29}" is 29 characters; it becomes the IAM name prefix "podspawn-n{29}-", which AWS limits to 38 \(allowed: at most 28 characters\)/);
    assert.doesNotThrow(() => aws(awsEnv({ nodes: [{ name: "n".repeat(28) }] })));
  });

  it("gives nodes in private subnets DNS records with their private address", () => {
    const priv = aws(awsEnv({ network: { kind: "existing", vpcId: "vpc-1", subnetIds: ["subnet-1", "subnet-2"], addressing: "private" } })).json;
    const a = resources(priv, "aws_route53_record").find((r) => r["type"] === "A");
    assert.match(String((a?.["records"] as string[])[0]), /aws_instance\.\S+\.private_ip/);
    assert.equal(resources(priv, "aws_instance")[0]?.["associate_public_ip_address"], false);
    const pub = resources(json, "aws_route53_record").find((r) => r["type"] === "A");
    assert.match(String((pub?.["records"] as string[])[0]), /aws_instance\.node-node-1_instance_\w+\.public_ip/);
  });

  it("publishes the manifest over HTTPS, one public object, found through the TXT record", () => {
    assert.equal(json.output["manifest_url"]?.value, "https://acme-podspawn-test-manifest.s3.eu-central-1.amazonaws.com/fleet.json");
    const txt = resources(json, "aws_route53_record").find((r) => r["type"] === "TXT");
    assert.deepEqual(txt?.["records"], ["v=podspawn1 fleet=acme manifest=https://acme-podspawn-test-manifest.s3.eu-central-1.amazonaws.com/fleet.json"]);
    const site = doc(json, "manifest-site_policy")[0];
    const allows = site?.statement.filter((s) => s["effect"] === "Allow") ?? [];
    assert.deepEqual(allows.map((s) => [s["actions"], s["resources"]]), [[["s3:GetObject"], ["arn:aws:s3:::acme-podspawn-test-manifest/fleet.json"]]]);
    assert.ok(site?.statement.some((s) => s["sid"] === "DenyInsecureTransport"));
    const obj = resources(json, "aws_s3_object").find((o) => o["key"] === "fleet.json");
    const out = String(json.output["fleet_manifest"]?.value);
    assert.equal(obj?.["content"], out);
    const m = validateFleetManifest(manifestFrom(out));
    assert.deepEqual(m.nodes.map((n) => [n.name, n.address, n.port]), [["node-1", "node-1.fleet.acme.test", 22], ["node-2", "node-2.fleet.acme.test", 22]]);
    assert.ok(!/PRIVATE|private_key_openssh/.test(out), "public facts only");
  });

  it("marks drained nodes in the manifest", () => {
    const j = aws(awsEnv({ nodes: [{ name: "node-1", drained: true }, { name: "node-2" }] })).json;
    const m = validateFleetManifest(manifestFrom(String(j.output["fleet_manifest"]?.value)));
    assert.deepEqual(m.nodes.map((n) => [n.name, n.drained ?? false]), [["node-1", true], ["node-2", false]]);
  });

  it("ships the users from git as a file named by its sha256 behind a pointer", () => {
    const objects = resources(json, "aws_s3_object");
    const users = objects.find((o) => String(o["key"]).startsWith("config/users-"));
    const content = String(users?.["content"]);
    assert.deepEqual(JSON.parse(content), GIT.users);
    const sha = createHash("sha256").update(content).digest("hex");
    assert.equal(users?.["key"], `config/users-${sha}.json`);
    assert.equal(objects.find((o) => o["key"] === "config/users.sha256")?.["content"], `${sha}\n`);
  });

  it("lets a deploy allow a mass removal through the users pointer only (no instance changes)", () => {
    const allowed = aws(awsEnv({ nodes: [{ name: "node-1" }, { name: "node-2" }], sshIngressCidrs: ["203.0.113.0/24", "198.51.100.7/32"], allowMassUserRemoval: true })).json;
    const pointer = resources(allowed, "aws_s3_object").find((o) => o["key"] === "config/users.sha256");
    assert.match(String(pointer?.["content"]), /^[0-9a-f]{64} allow-mass-removal\n$/);
    assert.deepEqual(resources(allowed, "aws_instance").map((i) => i["user_data_base64"]), resources(json, "aws_instance").map((i) => i["user_data_base64"]));
  });

  it("with hostKeys external: no private key in Terraform, the given public keys pinned", () => {
    const j = aws(awsEnv({ hostKeys: "external", nodes: [{ name: "node-1", hostPublicKey: SAMPLE_HOST_KEY }] }));
    assert.equal(resources(j.json, "tls_private_key").length, 0);
    assert.equal(resources(j.json, "aws_ssm_parameter").length, 0);
    assert.equal(resources(j.json, "aws_kms_key").length, 1);
    assert.deepEqual(validateFleetManifest(JSON.parse(String(j.json.output["fleet_manifest"]?.value))).nodes[0]?.hostKeys, [SAMPLE_HOST_KEY]);
    assert.throws(() => aws(awsEnv({ hostKeys: "external", nodes: [{ name: "node-1" }] })), /nodes\[0\]\.hostPublicKey: is missing/);
  });

  it("keeps state in S3, encrypted, with locking", () => {
    assert.deepEqual((json.terraform["backend"] as Record<string, unknown>)["s3"], { bucket: "acme-tfstate", key: "podspawn/test.tfstate", region: "eu-central-1", encrypt: true, use_lockfile: true });
  });

  it("contains no private key material in the synthesized JSON", () => {
    assert.ok(!/PRIVATE KEY/.test(text));
  });
});

describe("local-fleet stack", () => {
  const { json } = synth(new LocalFleetStack(Testing.app(), "local-test", { env: localEnv({ nodeCount: 2, basePort: 2301 }), git: GIT, agent, imageContext: "/ctx" }));

  it("runs N privileged node containers on one network, ssh bound to loopback ports", () => {
    const containers = resources(json, "docker_container");
    assert.equal(containers.length, 2);
    assert.equal(resources(json, "docker_network").length, 1);
    assert.deepEqual(containers.map((c) => c["ports"]), [[{ internal: 22, external: 2301, ip: "127.0.0.1" }], [{ internal: 22, external: 2302, ip: "127.0.0.1" }]]);
    assert.ok(containers.every((c) => c["privileged"] === true));
  });

  it("builds the node image from the prepared context and boots it with the same bootstrap", () => {
    const image = resources(json, "docker_image")[0] ?? {};
    assert.equal((image["build"] as Record<string, unknown>)["context"], "/ctx");
    const upload = (resources(json, "docker_container")[0]?.["upload"] as Record<string, unknown>[]) ?? [];
    const script = String(upload.find((u) => u["file"] === "/etc/podspawn-fleet/bootstrap.sh")?.["content"]);
    assert.match(script, /AGENT_POINTER_URL='file:\/\/\/opt\/podspawn\/agent\/current\.sha256'/);
    assert.match(String(image["name"]), new RegExp(`:${agent.sha256.slice(0, 12)}$`));
  });

  it("outputs a manifest the client accepts", () => {
    const m = validateFleetManifest(manifestFrom(String(json.output["fleet_manifest"]?.value)));
    assert.deepEqual(m.nodes.map((n) => [n.address, n.port]), [["127.0.0.1", 2301], ["127.0.0.1", 2302]]);
  });
});

describe("golden files (UPDATE_GOLDEN=1 rewrites them)", () => {
  const cases: [string, () => string][] = [
    ["aws-fleet-1-node.json", () => aws(awsEnv()).text],
    ["aws-fleet-2-nodes-existing-vpc.json", () => aws(awsEnv({ nodes: [{ name: "a" }, { name: "b" }], network: { kind: "existing", vpcId: "vpc-1", subnetIds: ["subnet-1", "subnet-2"] }, dns: { zoneId: "Z1", name: "f.acme.test", sshfp: true } })).text],
    ["local-fleet-1-node.json", () => synth(new LocalFleetStack(Testing.app(), "local-test", { env: localEnv({ nodeCount: 1 }), git: GIT, agent, imageContext: "/ctx" })).text],
    ["aws-fleet-1-node-projects.json", () => synth(new AwsFleetStack(Testing.app(), "aws-test", { env: awsEnv(), git: GIT, agent, projects })).text],
    ["local-fleet-1-node-projects.json", () => synth(new LocalFleetStack(Testing.app(), "local-test", { env: localEnv({ nodeCount: 1 }), git: GIT, agent, imageContext: "/ctx", projects })).text],
  ];
  for (const [file, render] of cases) {
    it(`matches ${file}`, () => {
      const path = join(GOLDEN, file);
      const actual = render() + "\n";
      if (process.env["UPDATE_GOLDEN"] === "1") writeFileSync(path, actual);
      assert.equal(actual, readFileSync(path, "utf8"));
    });
  }
});

describe("the app", () => {
  it("synthesizes every environment into the out dir", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podspawn-app-"));
    const root = join(here, "..", "..", "..");
    const bundleDir = dirname(agent.path).replace(/\/out$/, "");
    const app = await buildApp({ targets: [awsEnv(), localEnv()], root, bundleDir, outdir: join(dir, "cdktf.out"), imageKit: false });
    app.synth();
    const manifest = JSON.parse(readFileSync(join(dir, "cdktf.out", "manifest.json"), "utf8")) as { stacks: Record<string, unknown> };
    assert.deepEqual(Object.keys(manifest.stacks).sort(), ["aws-test", "local-test"]);
    assert.ok(existsSync(join(dir, "cdktf.out", "stacks", "aws-test", "cdk.tf.json")));
  });
});
