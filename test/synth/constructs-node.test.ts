import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { NodeInstance, SSM_MANAGED_POLICY_ARN } from "../../infra/src/constructs/node.js";
import { bareStack, resources, synth, type Synthesized } from "./fixtures.js";

function node(overrides: Partial<ConstructorParameters<typeof NodeInstance>[2]> = {}): Synthesized {
  const stack = bareStack();
  new NodeInstance(stack, "n", {
    name: "node-1",
    subnetId: "subnet-1",
    securityGroupIds: ["sg-1"],
    amiId: "ami-1",
    userDataBase64: "H4sI",
    readableObjectArns: ["arn:aws:s3:::b/agent/x.tar.gz"],
    readableParameterArns: ["arn:aws:ssm:eu-central-1:1:parameter/p"],
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

  it("replaces the instance when user-data changes and protects it only when asked", () => {
    const inst = resources(node(), "aws_instance")[0] ?? {};
    assert.equal(inst["user_data_replace_on_change"], true);
    assert.equal(inst["disable_api_termination"], false);
    assert.equal(resources(node({ terminationProtection: true }), "aws_instance")[0]?.["disable_api_termination"], true);
  });

  it("gets a role that is SSM-managed and may read only the named objects and parameters", () => {
    const json = node();
    assert.deepEqual(resources(json, "aws_iam_role_policy_attachment").map((a) => a["policy_arn"]), [SSM_MANAGED_POLICY_ARN]);
    const docs = json.data["aws_iam_policy_document"] ?? {};
    const reads = Object.entries(docs).find(([k]) => k.includes("reads"))?.[1] as { statement: Record<string, unknown>[] };
    assert.deepEqual(reads.statement.map((s) => [s["effect"], s["actions"], s["resources"]]), [
      ["Allow", ["s3:GetObject"], ["arn:aws:s3:::b/agent/x.tar.gz"]],
      ["Allow", ["ssm:GetParameter"], ["arn:aws:ssm:eu-central-1:1:parameter/p"]],
    ]);
    const assume = Object.entries(docs).find(([k]) => k.includes("assume"))?.[1] as { statement: Record<string, unknown>[] };
    assert.deepEqual(assume.statement[0]?.["principals"], [{ type: "Service", identifiers: ["ec2.amazonaws.com"] }]);
  });
});
