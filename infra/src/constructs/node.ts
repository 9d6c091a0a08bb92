import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile/index.js";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role/index.js";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy/index.js";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment/index.js";
import { Instance } from "@cdktf/provider-aws/lib/instance/index.js";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template/index.js";
import { Construct } from "constructs";
import { InputError } from "../../../agent/src/core/errors.js";

export const SSM_MANAGED_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

export interface NodeInstanceProps {
  /** DNS label of the node; part of every resource name. */
  readonly name: string;
  readonly subnetId: string;
  readonly securityGroupIds: readonly string[];
  readonly amiId: string;
  /** @default "t3.medium" */
  readonly instanceType?: string;
  /** @default 30 */
  readonly rootVolumeGiB?: number;
  /** Gzipped bootstrap, base64 (see renderUserData). */
  readonly userDataBase64: string;
  /**
   * Replace the instance when user-data changes. User-data runs once, at first boot, so an
   * in-place change would leave a node that no longer matches its config; replacing is the
   * only honest way to roll it out. Turn off only to stage a change by hand.
   * @default true
   */
  readonly replaceOnUserDataChange?: boolean;
  /** @default false */
  readonly terminationProtection?: boolean;
  /** S3 object ARNs (wildcards allowed) this node may GetObject. */
  readonly readableObjectArns: readonly string[];
  /** SSM parameter ARNs this node may GetParameter (its host key). @default [] */
  readonly readableParameterArns?: readonly string[];
  /** @default {} */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * One fleet node: a launch template carrying the hardening (IMDSv2 only with hop limit 1 so
 * containers behind the Docker bridge cannot reach it, encrypted gp3 root), and an instance from it
 * with its own role: SSM-managed, and able to read only the objects and parameters named here.
 */
export class NodeInstance extends Construct {
  readonly instance: Instance;
  readonly role: IamRole;

  constructor(scope: Construct, id: string, props: NodeInstanceProps) {
    super(scope, id);
    const volume = props.rootVolumeGiB ?? 30;
    if (!Number.isInteger(volume) || volume < 8 || volume > 16_384) throw new InputError(`nodes.${props.name}.rootVolumeGiB`, `${volume} is out of range`, "8-16384");
    const tags = { ...props.tags, Name: props.name, "podspawn:node": props.name };

    const assume = new DataAwsIamPolicyDocument(this, "assume", {
      statement: [{ effect: "Allow", actions: ["sts:AssumeRole"], principals: [{ type: "Service", identifiers: ["ec2.amazonaws.com"] }] }],
    });
    this.role = new IamRole(this, "role", { namePrefix: `podspawn-${props.name}-`, assumeRolePolicy: assume.json, tags });
    new IamRolePolicyAttachment(this, "ssm", { role: this.role.name, policyArn: SSM_MANAGED_POLICY_ARN });
    const reads = new DataAwsIamPolicyDocument(this, "reads", {
      statement: [
        { sid: "ReadAgentAndConfig", effect: "Allow", actions: ["s3:GetObject"], resources: [...props.readableObjectArns] },
        ...((props.readableParameterArns ?? []).length > 0
          ? [{ sid: "ReadHostKey", effect: "Allow", actions: ["ssm:GetParameter"], resources: [...(props.readableParameterArns ?? [])] }]
          : []),
      ],
    });
    new IamRolePolicy(this, "reads-policy", { role: this.role.id, name: "podspawn-node-reads", policy: reads.json });
    const profile = new IamInstanceProfile(this, "profile", { namePrefix: `podspawn-${props.name}-`, role: this.role.name, tags });

    const metadataOptions = { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" };
    const template = new LaunchTemplate(this, "template", {
      namePrefix: `podspawn-${props.name}-`,
      imageId: props.amiId,
      instanceType: props.instanceType ?? "t3.medium",
      metadataOptions,
      iamInstanceProfile: { arn: profile.arn },
      vpcSecurityGroupIds: [...props.securityGroupIds],
      blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "true", volumeSize: volume, volumeType: "gp3", deleteOnTermination: "true" } }],
      updateDefaultVersion: true,
      tagSpecifications: [{ resourceType: "instance", tags }, { resourceType: "volume", tags }],
      tags,
    });
    this.instance = new Instance(this, "instance", {
      launchTemplate: { id: template.id, version: "$Default" },
      subnetId: props.subnetId,
      // Repeated from the template on purpose: the instance is what policy checks and AWS enforce,
      // and an explicit value stops drift if the template is ever edited by hand.
      metadataOptions,
      rootBlockDevice: { encrypted: true, volumeSize: volume, volumeType: "gp3", deleteOnTermination: true },
      userDataBase64: props.userDataBase64,
      userDataReplaceOnChange: props.replaceOnUserDataChange ?? true,
      disableApiTermination: props.terminationProtection ?? false,
      tags,
    });
  }
}
