import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { NodeInstance } from "../../infra/src/constructs/node.js";
import { NodeRole } from "../../infra/src/constructs/node-role.js";
import { bareStack, resources, synth, type Synthesized } from "./fixtures.js";

function node(overrides: Partial<ConstructorParameters<typeof NodeInstance>[2]> = {}): Synthesized {
  const stack = bareStack();
  const role = new NodeRole(stack, "r", { name: "node-1" });
  role.grant({ readableObjectArns: ["arn:aws:s3:::b/agent/*"], readableParameterArns: ["arn:aws:ssm:eu-central-1:1:parameter/p"], decryptKeyArns: ["arn:aws:kms:eu-central-1:1:key/k"], writableObjectArns: ["arn:aws:s3:::b/status/node-1.json"] });
  new NodeInstance(stack, "n", {
    name: "node-1",
    subnetId: "subnet-1",
    securityGroupIds: ["sg-1"],
    amiId: "ami-1",
    userDataBase64: "H4sI",
    role,
    ...overrides,
  });
  return synth(stack).json;
}

describe("NodeInstance", () => {
  it("requires IMDSv2 with hop limit 1 on both the template and the instance", () => {
    const json = node();
    for (const r of [...resources(json, "aws_instance"), ...resources(json, "aws_launch_template")]) {
      assert.deepEqual(r["metadata_options"], { http_endpoint: "enabled", http_tokens: "required", http_put_response_hop_limit: 1, instance_metadata_tags: "disabled" });
    }
  });

  it("encrypts the root volume", () => {
    const json = node();
    const inst = resources(json, "aws_instance")[0] ?? {};
    assert.equal((inst["root_block_device"] as Record<string, unknown>)["encrypted"], true);
    const lt = resources(json, "aws_launch_template")[0] ?? {};
    const ebs = (lt["block_device_mappings"] as { ebs: Record<string, unknown> }[])[0]?.ebs;
    assert.equal(ebs?.["encrypted"], "true");
  });

  it("is guarded by prevent_destroy unless told otherwise, and carries the AMI on the instance", () => {
    const inst = resources(node(), "aws_instance")[0] ?? {};
    assert.deepEqual(inst["lifecycle"], { prevent_destroy: true });
    assert.equal(inst["ami"], "ami-1");
    assert.equal(inst["user_data_replace_on_change"], true);
    assert.equal(inst["disable_api_termination"], false);
    assert.deepEqual(resources(node({ protect: false }), "aws_instance")[0]?.["lifecycle"], { prevent_destroy: false });
    assert.equal(resources(node({ terminationProtection: true }), "aws_instance")[0]?.["disable_api_termination"], true);
  });
});

describe("NodeRole", () => {
  it("has no managed policy, and one inline policy with exactly the granted actions", () => {
    const json = node();
    assert.equal(resources(json, "aws_iam_role_policy_attachment").length, 0);
    const docs = json.data["aws_iam_policy_document"] ?? {};
    const reads = Object.entries(docs).find(([k]) => k.includes("reads"))?.[1] as { statement: Record<string, unknown>[] };
    assert.deepEqual(reads.statement.map((s) => [s["effect"], s["actions"], s["resources"]]), [
      ["Allow", ["s3:GetObject"], ["arn:aws:s3:::b/agent/*"]],
      ["Allow", ["s3:PutObject"], ["arn:aws:s3:::b/status/node-1.json"]],
      ["Allow", ["ssm:GetParameter"], ["arn:aws:ssm:eu-central-1:1:parameter/p"]],
      ["Allow", ["kms:Decrypt"], ["arn:aws:kms:eu-central-1:1:key/k"]],
    ]);
    const assume = Object.entries(docs).find(([k]) => k.includes("assume"))?.[1] as { statement: Record<string, unknown>[] };
    assert.deepEqual(assume.statement[0]?.["principals"], [{ type: "Service", identifiers: ["ec2.amazonaws.com"] }]);
  });

  it("refuses a name whose IAM prefix would pass AWS's 38 characters", () => {
    assert.throws(() => new NodeRole(bareStack(), "r", { name: "x".repeat(29) }), /makes the IAM name prefix "podspawn-x{29}-" 39 characters long/);
  });
});
