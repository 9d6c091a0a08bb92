import { DataAwsAvailabilityZones } from "@cdktf/provider-aws/lib/data-aws-availability-zones/index.js";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway/index.js";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table/index.js";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association/index.js";
import { Subnet } from "@cdktf/provider-aws/lib/subnet/index.js";
import { Vpc } from "@cdktf/provider-aws/lib/vpc/index.js";
import { Fn, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { InputError } from "../../../agent/src/core/errors.js";

export interface NetworkProps {
  /** Use this VPC instead of creating one. @default - a new VPC */
  readonly existingVpcId?: string;
  /** Required with existingVpcId: public subnets in >= 2 AZs. @default - one new subnet per AZ */
  readonly existingSubnetIds?: readonly string[];
  /** @default "10.42.0.0/16" */
  readonly vpcCidr?: string;
  /** Number of AZs (and public subnets) for a new VPC; at least 2. @default 2 */
  readonly azCount?: number;
  /** @default "podspawn" */
  readonly namePrefix?: string;
  /** With existingSubnetIds: do the subnets hand out public addresses? @default "public" */
  readonly addressing?: "public" | "private";
}

/**
 * Where nodes live: a VPC with public subnets spread over >= 2 AZs (so losing an AZ leaves part of
 * the fleet), or an existing one. Nodes get public addresses; the security group is the fence.
 */
export class Network extends Construct {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  /** One stable key per subnet (its id, or its AZ slot), for node placement. */
  readonly subnetKeys: readonly string[];
  /** Whether nodes get public addresses: decides which IP the DNS records carry. */
  readonly addressing: "public" | "private";
  /** What a node's first boot needs from here (its route to the internet). */
  readonly dependables: readonly ITerraformDependable[];

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    if (props.existingVpcId !== undefined) {
      const subnets = props.existingSubnetIds ?? [];
      if (subnets.length < 2) throw new InputError("network.subnetIds", `${subnets.length} subnet(s) given`, "at least 2 subnets in different AZs");
      this.vpcId = props.existingVpcId;
      this.subnetIds = [...subnets];
      this.subnetKeys = [...subnets];
      this.addressing = props.addressing ?? "public";
      this.dependables = [];
      return;
    }
    if (props.addressing === "private") throw new InputError("network.addressing", "private needs an existing VPC", "public for a VPC made here (it has no NAT)");
    if (props.existingSubnetIds !== undefined) throw new InputError("network.subnetIds", "given without an existing VPC id");
    const azCount = props.azCount ?? 2;
    if (!Number.isInteger(azCount) || azCount < 2 || azCount > 6) throw new InputError("network.azCount", `${azCount} is out of range`, "2-6");
    const cidr = props.vpcCidr ?? "10.42.0.0/16";
    const prefix = props.namePrefix ?? "podspawn";
    const vpc = new Vpc(this, "vpc", { cidrBlock: cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: `${prefix}-vpc` } });
    const igw = new InternetGateway(this, "igw", { vpcId: vpc.id, tags: { Name: `${prefix}-igw` } });
    const routes = new RouteTable(this, "public-routes", {
      vpcId: vpc.id,
      route: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
      tags: { Name: `${prefix}-public` },
    });
    const azs = new DataAwsAvailabilityZones(this, "azs", { state: "available" });
    const ids: string[] = [];
    const dependables: ITerraformDependable[] = [routes];
    for (let i = 0; i < azCount; i++) {
      const subnet = new Subnet(this, `public-${i}`, {
        vpcId: vpc.id,
        cidrBlock: Fn.cidrsubnet(cidr, 8, i),
        availabilityZone: Fn.element(azs.names, i),
        // Nodes need a public address for ssh; there is no NAT in this design.
        mapPublicIpOnLaunch: true,
        tags: { Name: `${prefix}-public-${i}` },
      });
      dependables.push(new RouteTableAssociation(this, `public-${i}-routes`, { subnetId: subnet.id, routeTableId: routes.id }));
      ids.push(subnet.id);
    }
    this.vpcId = vpc.id;
    this.subnetIds = ids;
    this.subnetKeys = ids.map((_, i) => `az-${i}`);
    this.addressing = "public";
    this.dependables = dependables;
  }
}
