import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule/index.js";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js";
import { Construct } from "constructs";
import { InputError } from "../../../agent/src/core/errors.js";

export interface NodeSecurityGroupProps {
  readonly vpcId: string;
  /** CIDRs allowed to reach port 22 (IPv4 or IPv6). Must not be empty. */
  readonly sshIngressCidrs: readonly string[];
  /** Where nodes may connect to, all ports. Empty means no egress at all. @default ["0.0.0.0/0"] */
  readonly egressCidrs?: readonly string[];
  /** @default "podspawn-node" */
  readonly name?: string;
}

const CIDR4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const CIDR6 = /^[0-9a-fA-F:]+\/(\d{1,3})$/;

function checkCidr(field: string, cidr: string): "v4" | "v6" {
  const m4 = CIDR4.exec(cidr);
  if (m4 && m4.slice(1, 5).every((o) => Number(o) <= 255) && Number(m4[5]) <= 32) return "v4";
  const m6 = CIDR6.exec(cidr);
  if (m6 && cidr.includes(":") && Number(m6[1]) <= 128) return "v6";
  throw new InputError(field, `${JSON.stringify(cidr)} is not a CIDR block`, "e.g. 203.0.113.0/24 or 2001:db8::/32");
}

/**
 * The node's only inbound door: TCP 22 from the configured CIDRs, one rule per CIDR (standalone rule
 * resources, so adding a CIDR never rewrites the others). No other inbound rule is ever created.
 */
export class NodeSecurityGroup extends Construct {
  readonly securityGroupId: string;

  constructor(scope: Construct, id: string, props: NodeSecurityGroupProps) {
    super(scope, id);
    if (props.sshIngressCidrs.length === 0) throw new InputError("sshIngressCidrs", "is empty: nobody could reach the nodes", "one or more CIDR blocks");
    const sg = new SecurityGroup(this, "sg", {
      name: props.name ?? "podspawn-node",
      description: "podspawn nodes: ssh only",
      vpcId: props.vpcId,
      // Inline rules would fight the standalone ones below; Terraform owns them all through these.
      revokeRulesOnDelete: true,
    });
    props.sshIngressCidrs.forEach((cidr, i) => {
      const family = checkCidr(`sshIngressCidrs[${i}]`, cidr);
      new VpcSecurityGroupIngressRule(this, `ssh-${i}`, {
        securityGroupId: sg.id,
        ipProtocol: "tcp",
        fromPort: 22,
        toPort: 22,
        ...(family === "v4" ? { cidrIpv4: cidr } : { cidrIpv6: cidr }),
        description: "ssh to podspawn",
      });
    });
    (props.egressCidrs ?? ["0.0.0.0/0"]).forEach((cidr, i) => {
      const family = checkCidr(`egressCidrs[${i}]`, cidr);
      new VpcSecurityGroupEgressRule(this, `egress-${i}`, {
        securityGroupId: sg.id,
        ipProtocol: "-1",
        ...(family === "v4" ? { cidrIpv4: cidr } : { cidrIpv6: cidr }),
        description: "node egress",
      });
    });
    this.securityGroupId = sg.id;
  }
}
