import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DataAwsAmi } from "@cdktf/provider-aws/lib/data-aws-ami/index.js";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment/index.js";
import { Instance } from "@cdktf/provider-aws/lib/instance/index.js";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js";
import { Testing } from "cdktf";
import { applyFleetPolicy } from "../../infra/src/policy/aspects.js";
import { AwsFleetStack } from "../../infra/src/stacks/aws-fleet.js";
import { awsEnv, bareStack, fakeAgent, GIT } from "./fixtures.js";

const hardened = { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 }, rootBlockDevice: { encrypted: true } };

describe("policy aspects", () => {
  it("fail synth for an instance without IMDSv2", () => {
    const stack = bareStack();
    new Instance(stack, "legacy", { ami: "ami-1", instanceType: "t3.micro", rootBlockDevice: { encrypted: true } });
    applyFleetPolicy(stack);
    assert.throws(() => Testing.synth(stack), /policy violation at test\/legacy: aws_instance must set metadata_options\.http_tokens = "required"/);
  });

  it("fail synth when an escape hatch weakens IMDS afterwards", () => {
    const stack = bareStack();
    const i = new Instance(stack, "i", { ami: "ami-1", instanceType: "t3.micro", ...hardened });
    i.addOverride("metadata_options.http_put_response_hop_limit", 2);
    applyFleetPolicy(stack);
    assert.throws(() => Testing.synth(stack), /hop_limit = 1/);
  });

  it("fail synth for an unencrypted root volume", () => {
    const stack = bareStack();
    new Instance(stack, "i", { ami: "ami-1", instanceType: "t3.micro", metadataOptions: hardened.metadataOptions });
    applyFleetPolicy(stack);
    assert.throws(() => Testing.synth(stack), /root_block_device must be encrypted/);
  });

  it("fail synth for a port other than 22 open to the internet, in any rule form", () => {
    const standalone = bareStack();
    new VpcSecurityGroupIngressRule(standalone, "r", { securityGroupId: "sg", ipProtocol: "tcp", fromPort: 80, toPort: 80, cidrIpv4: "0.0.0.0/0" });
    applyFleetPolicy(standalone);
    assert.throws(() => Testing.synth(standalone), /ingress open to the internet on tcp 80-80/);

    const inline = bareStack();
    new SecurityGroup(inline, "sg", { ingress: [{ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] }] });
    applyFleetPolicy(inline);
    assert.throws(() => Testing.synth(inline), /all ports/);
  });

  it("allow 22 from anywhere, other ports from private ranges, and explicitly allowed open ports", () => {
    const stack = bareStack();
    new VpcSecurityGroupIngressRule(stack, "ssh", { securityGroupId: "sg", ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" });
    new VpcSecurityGroupIngressRule(stack, "private", { securityGroupId: "sg", ipProtocol: "tcp", fromPort: 80, toPort: 80, cidrIpv4: "10.0.0.0/8" });
    new VpcSecurityGroupIngressRule(stack, "https", { securityGroupId: "sg", ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" });
    applyFleetPolicy(stack, { allowedOpenPorts: [22, 443] });
    assert.doesNotThrow(() => Testing.synth(stack));
  });

  it("fail synth for an AWS-managed policy on a role (the SSM core policy reads every parameter)", () => {
    const stack = bareStack();
    new IamRolePolicyAttachment(stack, "ssm", { role: "r", policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" });
    applyFleetPolicy(stack);
    assert.throws(() => Testing.synth(stack), /policy violation at test\/ssm: AWS-managed policy arn:aws:iam::aws:policy\/AmazonSSMManagedInstanceCore attached/);
    const own = bareStack();
    new IamRolePolicyAttachment(own, "mine", { role: "r", policyArn: "arn:aws:iam::123456789012:policy/mine" });
    applyFleetPolicy(own);
    assert.doesNotThrow(() => Testing.synth(own));
  });

  it("fail synth for a floating AMI: a most_recent lookup, or an instance taking its image from one", () => {
    const lookup = bareStack();
    new DataAwsAmi(lookup, "debian", { mostRecent: true, owners: ["136693071363"] });
    applyFleetPolicy(lookup);
    assert.throws(() => Testing.synth(lookup), /most_recent floats the fleet's image/);
    const fed = bareStack();
    const ami = new DataAwsAmi(fed, "pinned-lookup", { owners: ["136693071363"], filter: [{ name: "image-id", values: ["ami-1"] }] });
    new Instance(fed, "i", { ami: ami.id, instanceType: "t3.micro", ...hardened });
    applyFleetPolicy(fed);
    assert.throws(() => Testing.synth(fed), /policy violation at test\/i: aws_instance takes its image from an aws_ami lookup/);
  });

  it("fail synth for a SecureString without a customer-managed key", () => {
    for (const keyId of [undefined, "alias/aws/ssm"]) {
      const stack = bareStack();
      new SsmParameter(stack, "p", { name: "/k", type: "SecureString", value: "x", ...(keyId ? { keyId } : {}) });
      applyFleetPolicy(stack);
      assert.throws(() => Testing.synth(stack), /SecureString parameters must name a customer-managed KMS key/);
    }
  });

  it("are applied by the AWS fleet stack itself", async () => {
    const stack = new AwsFleetStack(Testing.app(), "aws-test", { env: awsEnv(), git: GIT, agent: await fakeAgent() });
    new VpcSecurityGroupIngressRule(stack, "sneaky", { securityGroupId: "sg", ipProtocol: "tcp", fromPort: 3389, toPort: 3389, cidrIpv4: "0.0.0.0/0" });
    assert.throws(() => Testing.synth(stack), /policy violation at aws-test\/sneaky/);
  });
});
