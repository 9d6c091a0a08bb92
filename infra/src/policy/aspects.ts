import { Aspects, DefaultTokenResolver, StringConcat, TerraformDataSource, TerraformResource, Tokenization, type IAspect, type TerraformStack } from "cdktf";
import type { IConstruct } from "constructs";

/**
 * Policy as Aspects: they read what a resource will synthesize (after escape-hatch overrides) and
 * throw, so a violation fails `cdktf synth` and every test that synthesizes the stack, instead of
 * being a warning nobody reads.
 */
export class PolicyViolation extends Error {
  override readonly name = "PolicyViolation";
  constructor(path: string, rule: string) {
    super(`policy violation at ${path}: ${rule}`);
  }
}

type Attrs = Record<string, unknown>;

function attributesOf(node: IConstruct): { type: string; attrs: Attrs } | undefined {
  if (!(node instanceof TerraformResource) && !(node instanceof TerraformDataSource)) return undefined;
  // Resolved, so a reference reads as Terraform will see it (`${data.aws_ami.x.id}`), not as a token.
  const tf = Tokenization.resolve(node.toTerraform(), { scope: node, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) }) as { resource?: Record<string, Record<string, Attrs>>; data?: Record<string, Record<string, Attrs>> };
  const byName = (node instanceof TerraformResource ? tf.resource : tf.data)?.[node.terraformResourceType];
  const attrs = byName ? Object.values(byName)[0] : undefined;
  return attrs ? { type: node instanceof TerraformResource ? node.terraformResourceType : `data.${node.terraformResourceType}`, attrs } : undefined;
}

function first(value: unknown): Attrs | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return typeof v === "object" && v !== null ? (v as Attrs) : undefined;
}

/** Every instance and launch template requires IMDSv2 tokens with a hop limit of 1. */
export class RequireImdsV2 implements IAspect {
  visit(node: IConstruct): void {
    const r = attributesOf(node);
    if (!r || (r.type !== "aws_instance" && r.type !== "aws_launch_template")) return;
    const md = first(r.attrs["metadata_options"]);
    if (md?.["http_tokens"] !== "required") throw new PolicyViolation(node.node.path, `${r.type} must set metadata_options.http_tokens = "required" (IMDSv2)`);
    if (md["http_put_response_hop_limit"] !== 1) throw new PolicyViolation(node.node.path, `${r.type} must set metadata_options.http_put_response_hop_limit = 1`);
  }
}

const OPEN = new Set(["0.0.0.0/0", "::/0"]);

export interface RestrictOpenIngressProps {
  /** Ports that may be open to the whole internet. @default [22] */
  readonly allowedOpenPorts?: readonly number[];
}

/**
 * No security group rule opens a port other than the allowed ones (22) to 0.0.0.0/0 or ::/0. Covers
 * standalone ingress rules, legacy aws_security_group_rule and inline ingress blocks.
 */
export class RestrictOpenIngress implements IAspect {
  private readonly allowed: readonly number[];
  constructor(props: RestrictOpenIngressProps = {}) {
    this.allowed = props.allowedOpenPorts ?? [22];
  }
  visit(node: IConstruct): void {
    const r = attributesOf(node);
    if (!r) return;
    const rules: Attrs[] = [];
    if (r.type === "aws_vpc_security_group_ingress_rule") rules.push(r.attrs);
    if (r.type === "aws_security_group_rule" && r.attrs["type"] === "ingress") rules.push(r.attrs);
    if (r.type === "aws_security_group" && Array.isArray(r.attrs["ingress"])) rules.push(...(r.attrs["ingress"] as Attrs[]));
    for (const rule of rules) {
      const cidrs = [rule["cidr_ipv4"], rule["cidr_ipv6"], ...((rule["cidr_blocks"] as unknown[]) ?? []), ...((rule["ipv6_cidr_blocks"] as unknown[]) ?? [])];
      if (!cidrs.some((c) => typeof c === "string" && OPEN.has(c))) continue;
      const from = rule["from_port"];
      const to = rule["to_port"];
      const proto = rule["ip_protocol"] ?? rule["protocol"];
      const single = typeof from === "number" && from === to && (proto === "tcp" || proto === "6");
      if (!single || !this.allowed.includes(from)) {
        throw new PolicyViolation(node.node.path, `ingress open to the internet on ${proto === "-1" ? "all ports" : `${String(proto)} ${String(from)}-${String(to)}`}; only ${this.allowed.join(", ")} may be`);
      }
    }
  }
}

/** Every EBS root volume (instance or template) is encrypted. */
export class RequireEncryptedVolumes implements IAspect {
  visit(node: IConstruct): void {
    const r = attributesOf(node);
    if (r?.type === "aws_instance") {
      const root = first(r.attrs["root_block_device"]);
      if (root?.["encrypted"] !== true) throw new PolicyViolation(node.node.path, "aws_instance root_block_device must be encrypted");
    }
    if (r?.type === "aws_launch_template") {
      const mappings = (r.attrs["block_device_mappings"] as Attrs[] | undefined) ?? [];
      for (const m of mappings) {
        const ebs = first(m["ebs"]);
        if (ebs && ebs["encrypted"] !== "true" && ebs["encrypted"] !== true) throw new PolicyViolation(node.node.path, "aws_launch_template EBS mappings must be encrypted");
      }
    }
  }
}

/**
 * No AWS-managed policy on any role: AmazonSSMManagedInstanceCore, for one, grants
 * ssm:GetParameter on every parameter, which would hand each node every node's host key.
 */
export class NoManagedPolicies implements IAspect {
  visit(node: IConstruct): void {
    const r = attributesOf(node);
    if (r?.type === "aws_iam_role_policy_attachment" || r?.type === "aws_iam_policy_attachment") {
      const arn = String(r.attrs["policy_arn"]);
      if (/^arn:aws[a-z-]*:iam::aws:policy\//.test(arn)) throw new PolicyViolation(node.node.path, `AWS-managed policy ${arn} attached; node roles carry only their own inline policy`);
    }
    if (r?.type === "aws_iam_role" && Array.isArray(r.attrs["managed_policy_arns"]) && (r.attrs["managed_policy_arns"] as unknown[]).length > 0) {
      throw new PolicyViolation(node.node.path, "aws_iam_role must not list managed_policy_arns");
    }
  }
}

/**
 * AMIs are pinned: an `aws_ami` lookup with `most_recent` replaces every node on the first plan
 * after a new image is published, and nothing in the config says so.
 */
export class NoFloatingAmi implements IAspect {
  visit(node: IConstruct): void {
    const r = attributesOf(node);
    if (r?.type === "data.aws_ami" && r.attrs["most_recent"] === true) throw new PolicyViolation(node.node.path, "data aws_ami with most_recent floats the fleet's image; pin amiId in the config");
    if (r?.type === "aws_instance" || r?.type === "aws_launch_template") {
      const ami = String(r.attrs["ami"] ?? r.attrs["image_id"] ?? "");
      if (ami.includes("data.aws_ami")) throw new PolicyViolation(node.node.path, `${r.type} takes its image from an aws_ami lookup; pin amiId in the config`);
    }
  }
}

/** SecureString parameters (host keys) are encrypted with a customer-managed key, not aws/ssm. */
export class RequireCustomerKeyForSecrets implements IAspect {
  visit(node: IConstruct): void {
    const r = attributesOf(node);
    if (r?.type !== "aws_ssm_parameter" || r.attrs["type"] !== "SecureString") return;
    const key = r.attrs["key_id"];
    if (typeof key !== "string" || key === "" || key === "alias/aws/ssm") throw new PolicyViolation(node.node.path, "SecureString parameters must name a customer-managed KMS key (key_id)");
  }
}

/** The policy every fleet stack carries. */
export function applyFleetPolicy(stack: TerraformStack, props: RestrictOpenIngressProps = {}): void {
  Aspects.of(stack).add(new RequireImdsV2());
  Aspects.of(stack).add(new RestrictOpenIngress(props));
  Aspects.of(stack).add(new RequireEncryptedVolumes());
  Aspects.of(stack).add(new NoManagedPolicies());
  Aspects.of(stack).add(new NoFloatingAmi());
  Aspects.of(stack).add(new RequireCustomerKeyForSecrets());
}
