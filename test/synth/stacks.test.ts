import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { Testing } from "cdktf";
import { validateFleetManifest } from "../../agent/src/core/fleet/fleet-manifest.js";
import { buildApp } from "../../infra/src/app.js";
import { USER_DATA_LIMIT_BYTES } from "../../infra/src/bootstrap/user-data.js";
import { AwsFleetStack, USERS_KEY } from "../../infra/src/stacks/aws-fleet.js";
import { LocalFleetStack } from "../../infra/src/stacks/local-fleet.js";
import { awsEnv, fakeAgent, GIT, localEnv, resources, SAMPLE_HOST_KEY, synth, type Synthesized } from "./fixtures.js";

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, "..", "..", "..", "test", "synth", "golden");
const agent = await fakeAgent();

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

  it("requires IMDSv2 (hop limit 1) and encrypted roots on every instance", () => {
    const instances = resources(json, "aws_instance");
    assert.equal(instances.length, 2);
    for (const i of instances) {
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

  it("keeps the artifact bucket private, encrypted and TLS-only", () => {
    assert.equal(resources(json, "aws_s3_bucket_public_access_block")[0]?.["restrict_public_buckets"], true);
    assert.equal(resources(json, "aws_s3_bucket_server_side_encryption_configuration").length, 1);
    const policy = doc(json, "artifacts_policy")[0];
    assert.ok(policy?.statement.some((s) => s["sid"] === "DenyInsecureTransport"));
    assert.ok(policy?.statement.every((s) => s["effect"] === "Deny"));
    for (const o of resources(json, "aws_s3_object")) assert.equal(o["server_side_encryption"], "AES256");
  });

  it("gives each node role only GetObject on the agent and users config and its own host key", () => {
    const reads = doc(json, "_reads_");
    assert.equal(reads.length, 2);
    const params = resources(json, "aws_ssm_parameter").map((p) => p["name"]);
    reads.forEach((d, i) => {
      const actions = d.statement.flatMap((s) => s["actions"] as string[]);
      assert.deepEqual(actions, ["s3:GetObject", "ssm:GetParameter"]);
      const objects = d.statement[0]?.["resources"] as string[];
      assert.deepEqual(objects, [`arn:aws:s3:::acme-podspawn-test/agent/${agent.sha256}.tar.gz`, `arn:aws:s3:::acme-podspawn-test/${USERS_KEY}`]);
      const paramRef = (d.statement[1]?.["resources"] as string[])[0] ?? "";
      assert.match(paramRef, new RegExp(`node-${i + 1}-host-key-param`), `node-${i + 1} reads only its own key (${String(params[i])})`);
      assert.ok(d.statement.every((s) => s["effect"] === "Allow" && !(s["resources"] as string[]).some((r) => r === "*")));
    });
    assert.deepEqual(resources(json, "aws_iam_role_policy_attachment").map((a) => a["policy_arn"]), Array(2).fill("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"));
  });

  it("has an A record per node pointing at that node's instance", () => {
    const a = resources(json, "aws_route53_record").filter((r) => r["type"] === "A");
    assert.deepEqual(a.map((r) => r["name"]), ["node-1.fleet.acme.test", "node-2.fleet.acme.test"]);
    assert.match(String((a[0]?.["records"] as string[])[0]), /aws_instance\.node-node-1_instance_\w+\.public_ip/);
    assert.match(String((a[1]?.["records"] as string[])[0]), /aws_instance\.node-node-2_instance_\w+\.public_ip/);
  });

  it("boots nodes with gzipped user-data under 16 KB that fetches and checks this exact agent", () => {
    for (const [i, inst] of resources(json, "aws_instance").entries()) {
      const gz = Buffer.from(String(inst["user_data_base64"]), "base64");
      assert.ok(gz.length <= USER_DATA_LIMIT_BYTES);
      const script = gunzipSync(gz).toString();
      assert.ok(script.includes(`ARTIFACT_URL='s3://acme-podspawn-test/agent/${agent.sha256}.tar.gz'`));
      assert.ok(script.includes(`ARTIFACT_SHA256='${agent.sha256}'`));
      assert.ok(script.includes(`HOST_KEY_URL='ssm:/podspawn/acme/test/node-${i + 1}/host-key'`));
    }
  });

  it("publishes the manifest as an output and an S3 object, both valid for the client", () => {
    const out = String(json.output["fleet_manifest"]?.value);
    const m = validateFleetManifest(manifestFrom(out));
    assert.deepEqual(m.nodes.map((n) => [n.name, n.address, n.port]), [["node-1", "node-1.fleet.acme.test", 22], ["node-2", "node-2.fleet.acme.test", 22]]);
    const obj = resources(json, "aws_s3_object").find((o) => o["key"] === "manifest/fleet.json");
    assert.equal(obj?.["content"], out);
  });

  it("ships the users from git as the config object nodes sync from", () => {
    const obj = resources(json, "aws_s3_object").find((o) => o["key"] === USERS_KEY);
    assert.deepEqual(JSON.parse(String(obj?.["content"])), GIT.users);
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
    assert.match(script, /ARTIFACT_URL='file:\/\/\/opt\/podspawn\/agent\.tar\.gz'/);
    assert.match(script, new RegExp(`ARTIFACT_SHA256='${agent.sha256}'`));
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
    const app = await buildApp({ targets: [awsEnv(), localEnv()], root, bundleDir, outdir: join(dir, "cdktf.out") });
    app.synth();
    const manifest = JSON.parse(readFileSync(join(dir, "cdktf.out", "manifest.json"), "utf8")) as { stacks: Record<string, unknown> };
    assert.deepEqual(Object.keys(manifest.stacks).sort(), ["aws-test", "local-test"]);
    assert.ok(existsSync(join(dir, "cdktf.out", "stacks", "aws-test", "cdk.tf.json")));
  });
});
