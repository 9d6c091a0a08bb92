import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { Construct } from "constructs";
import { InputError } from "../../../agent/src/core/errors.js";
import { IAM_NAME_PREFIX_LIMIT, nodeNamePrefix } from "../config/validate.js";

export interface NodeGrants {
  /** S3 object ARNs (wildcards allowed) the node may GetObject. */
  readonly readableObjectArns: readonly string[];
  /** S3 object ARNs the node may PutObject (its own status object). @default [] */
  readonly writableObjectArns?: readonly string[];
  /** SSM parameter ARNs the node may GetParameter (its host key). @default [] */
  readonly readableParameterArns?: readonly string[];
  /** KMS key ARNs the node may Decrypt with (its host key's). @default [] */
  readonly decryptKeyArns?: readonly string[];
}

export interface NodeRoleProps {
  /** The node's name: the IAM name prefix is `podspawn-<name>-`. */
  readonly name: string;
  /** @default {} */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * The node's identity: an EC2 role and its instance profile, with no managed policy at all (the
 * AWS-managed SSM policy grants ssm:GetParameter on every parameter, which would let each node read
 * every node's host key). What the node may touch is one inline policy, set with `grant()`, which
 * the stack calls once it knows the node's objects, parameter and key.
 */
export class NodeRole extends Construct {
  readonly role: IamRole;
  readonly profile: IamInstanceProfile;
  private policy: IamRolePolicy | undefined;

  constructor(scope: Construct, id: string, props: NodeRoleProps) {
    super(scope, id);
    const prefix = nodeNamePrefix(props.name);
    if (prefix.length > IAM_NAME_PREFIX_LIMIT) {
      throw new InputError(`nodes.${props.name}.name`, `makes the IAM name prefix "${prefix}" ${prefix.length} characters long`, `names that keep it within ${IAM_NAME_PREFIX_LIMIT}`);
    }
    const tags = { ...props.tags, Name: props.name, "podspawn:node": props.name };
    const assume = new DataAwsIamPolicyDocument(this, "assume", {
      statement: [{ effect: "Allow", actions: ["sts:AssumeRole"], principals: [{ type: "Service", identifiers: ["ec2.amazonaws.com"] }] }],
    });
    this.role = new IamRole(this, "role", { namePrefix: prefix, assumeRolePolicy: assume.json, tags });
    this.profile = new IamInstanceProfile(this, "profile", { namePrefix: prefix, role: this.role.name, tags });
  }

  get arn(): string {
    return this.role.arn;
  }

  /** The node's one inline policy; exactly what it reads, writes and decrypts, nothing with `*`. */
  grant(g: NodeGrants): IamRolePolicy {
    if (this.policy) throw new Error("NodeRole.grant called twice");
    const statements = [
      { sid: "ReadAgentAndConfig", effect: "Allow", actions: ["s3:GetObject"], resources: [...g.readableObjectArns] },
      ...((g.writableObjectArns ?? []).length > 0 ? [{ sid: "PublishStatus", effect: "Allow", actions: ["s3:PutObject"], resources: [...(g.writableObjectArns ?? [])] }] : []),
      ...((g.readableParameterArns ?? []).length > 0 ? [{ sid: "ReadHostKey", effect: "Allow", actions: ["ssm:GetParameter"], resources: [...(g.readableParameterArns ?? [])] }] : []),
      ...((g.decryptKeyArns ?? []).length > 0 ? [{ sid: "DecryptHostKey", effect: "Allow", actions: ["kms:Decrypt"], resources: [...(g.decryptKeyArns ?? [])] }] : []),
    ];
    const doc = new DataAwsIamPolicyDocument(this, "reads", { statement: statements });
    this.policy = new IamRolePolicy(this, "reads-policy", { role: this.role.id, name: "podspawn-node", policy: doc.json });
    return this.policy;
  }
}
