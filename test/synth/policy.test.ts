import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Instance } from "@cdktf/provider-aws/lib/instance/index.js";
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

  it("are applied by the AWS fleet stack itself", async () => {
    const stack = new AwsFleetStack(Testing.app(), "aws-test", { env: awsEnv(), git: GIT, agent: await fakeAgent() });
    new VpcSecurityGroupIngressRule(stack, "sneaky", { securityGroupId: "sg", ipProtocol: "tcp", fromPort: 3389, toPort: 3389, cidrIpv4: "0.0.0.0/0" });
    assert.throws(() => Testing.synth(stack), /policy violation at aws-test\/sneaky/);
  });
});
