import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../agent/src/core/errors.js";
import { Network } from "../../infra/src/constructs/network.js";
import { NodeSecurityGroup } from "../../infra/src/constructs/node-security-group.js";
import { bareStack, resources, synth } from "./fixtures.js";

describe("Network", () => {
  it("creates a VPC with public subnets in distinct AZs (2 by default)", () => {
    const stack = bareStack();
    const net = new Network(stack, "net");
    const { json } = synth(stack);
    assert.equal(resources(json, "aws_vpc").length, 1);
    const subnets = resources(json, "aws_subnet");
    assert.equal(subnets.length, 2);
    assert.equal(net.subnetIds.length, 2);
    const azs = subnets.map((s) => s["availability_zone"]);
    assert.equal(new Set(azs).size, 2, "each subnet in its own AZ");
    assert.deepEqual(azs.map((a) => /element\(data\.aws_availability_zones\.\S+\.names, (\d)\)/.exec(String(a))?.[1]), ["0", "1"]);
  });

  it("uses an existing VPC and creates nothing", () => {
    const stack = bareStack();
    const net = new Network(stack, "net", { existingVpcId: "vpc-1", existingSubnetIds: ["subnet-a", "subnet-b"] });
    const { json } = synth(stack);
    assert.equal(net.vpcId, "vpc-1");
    assert.deepEqual(net.subnetIds, ["subnet-a", "subnet-b"]);
    assert.deepEqual(json.resource, {});
  });

  it("refuses fewer than 2 AZs or subnets", () => {
    assert.throws(() => new Network(bareStack(), "n", { azCount: 1 }), InputError);
    assert.throws(() => new Network(bareStack(), "n", { existingVpcId: "vpc-1", existingSubnetIds: ["subnet-a"] }), InputError);
  });
});

describe("NodeSecurityGroup", () => {
  it("opens only TCP 22, once per configured CIDR, and nothing else inbound", () => {
    const stack = bareStack();
    new NodeSecurityGroup(stack, "sg", { vpcId: "vpc-1", sshIngressCidrs: ["203.0.113.0/24", "2001:db8::/32"] });
    const { json } = synth(stack);
    const ingress = resources(json, "aws_vpc_security_group_ingress_rule");
    assert.equal(ingress.length, 2);
    for (const r of ingress) {
      assert.equal(r["ip_protocol"], "tcp");
      assert.equal(r["from_port"], 22);
      assert.equal(r["to_port"], 22);
    }
    assert.deepEqual(ingress.map((r) => r["cidr_ipv4"] ?? r["cidr_ipv6"]), ["203.0.113.0/24", "2001:db8::/32"]);
    const sg = resources(json, "aws_security_group")[0] ?? {};
    assert.equal(sg["ingress"], undefined, "no inline ingress");
    assert.equal(resources(json, "aws_security_group_rule").length, 0);
  });

  it("has configurable egress, all-v4 by default, none when empty", () => {
    const a = bareStack();
    new NodeSecurityGroup(a, "sg", { vpcId: "v", sshIngressCidrs: ["10.0.0.0/8"] });
    assert.deepEqual(resources(synth(a).json, "aws_vpc_security_group_egress_rule").map((r) => r["cidr_ipv4"]), ["0.0.0.0/0"]);
    const b = bareStack();
    new NodeSecurityGroup(b, "sg", { vpcId: "v", sshIngressCidrs: ["10.0.0.0/8"], egressCidrs: [] });
    assert.equal(resources(synth(b).json, "aws_vpc_security_group_egress_rule").length, 0);
  });

  it("refuses an empty or malformed CIDR list", () => {
    assert.throws(() => new NodeSecurityGroup(bareStack(), "sg", { vpcId: "v", sshIngressCidrs: [] }), InputError);
    assert.throws(() => new NodeSecurityGroup(bareStack(), "sg", { vpcId: "v", sshIngressCidrs: ["10.0.0.300/8"] }), /sshIngressCidrs\[0\]/);
  });
});
