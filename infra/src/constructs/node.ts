import { Instance } from "@cdktf/provider-aws/lib/instance/index.js";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { InputError } from "../../../agent/src/core/errors.js";
import { nodeNamePrefix } from "../config/validate.js";
import type { NodeRole } from "./node-role.js";

export interface NodeInstanceProps {
  /** DNS label of the node; part of every resource name. */
  readonly name: string;
  readonly subnetId: string;
  readonly securityGroupIds: readonly string[];
  /** Pinned; changing it replaces the node (guarded, see `protect`). */
  readonly amiId: string;
  /** @default "t3.medium" */
  readonly instanceType?: string;
  /** @default 30 */
  readonly rootVolumeGiB?: number;
  /** Gzipped bootstrap, base64 (see renderUserData). */
  readonly userDataBase64: string;
  readonly role: NodeRole;
  /**
   * Everything user-data fetches or needs at first boot (the agent and its pointer, the users file
   * and its pointer, the host key parameter and its KMS key, the role policy, the route to the
   * internet). Without it Terraform may start the instance first and the bootstrap loses the race.
   * @default []
   */
  readonly dependsOn?: readonly ITerraformDependable[];
  /**
   * `lifecycle.prevent_destroy`: a plan that would replace or delete this node fails instead. The
   * stack lifts it for at most `maxReplacements` nodes at once, so replacements go one at a time.
   * @default true
   */
  readonly protect?: boolean;
  /** EC2 termination protection; the provider lifts it before deleting, `protect` is the real guard. @default false */
  readonly terminationProtection?: boolean;
  /** With private subnets: no public address. @default true */
  readonly publicAddress?: boolean;
  /** @default {} */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * One fleet node: a launch template (IMDSv2 required, hop limit 1, so containers behind the Docker
 * bridge cannot reach the metadata service; encrypted gp3 root) and the instance. User-data runs
 * once, at first boot, and is the same bytes for every agent release (nodes follow the agent
 * pointer), so `user_data_replace_on_change` only fires for a new bootstrap, and then only on the
 * nodes whose guard is lifted.
 */
export class NodeInstance extends Construct {
  readonly instance: Instance;
  /** The address the node's DNS record carries. */
  readonly address: string;

  constructor(scope: Construct, id: string, props: NodeInstanceProps) {
    super(scope, id);
    const volume = props.rootVolumeGiB ?? 30;
    if (!Number.isInteger(volume) || volume < 8 || volume > 16_384) throw new InputError(`nodes.${props.name}.rootVolumeGiB`, `${volume} is out of range`, "8-16384");
    const tags = { ...props.tags, Name: props.name, "podspawn:node": props.name };

    const metadataOptions = { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" };
    const template = new LaunchTemplate(this, "template", {
      namePrefix: nodeNamePrefix(props.name),
      imageId: props.amiId,
      instanceType: props.instanceType ?? "t3.medium",
      metadataOptions,
      iamInstanceProfile: { arn: props.role.profile.arn },
      vpcSecurityGroupIds: [...props.securityGroupIds],
      blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "true", volumeSize: volume, volumeType: "gp3", deleteOnTermination: "true" } }],
      updateDefaultVersion: true,
      tagSpecifications: [{ resourceType: "instance", tags }, { resourceType: "volume", tags }],
      tags,
    });
    this.instance = new Instance(this, "instance", {
      // The AMI on the instance itself, so a bump shows in the plan as this node's replacement.
      ami: props.amiId,
      launchTemplate: { id: template.id, version: "$Default" },
      subnetId: props.subnetId,
      // Repeated from the template on purpose: the instance is what policy checks and AWS enforce,
      // and an explicit value stops drift if the template is ever edited by hand.
      metadataOptions,
      rootBlockDevice: { encrypted: true, volumeSize: volume, volumeType: "gp3", deleteOnTermination: true },
      userDataBase64: props.userDataBase64,
      userDataReplaceOnChange: true,
      disableApiTermination: props.terminationProtection ?? false,
      ...(props.publicAddress === false ? { associatePublicIpAddress: false } : {}),
      dependsOn: [...(props.dependsOn ?? [])],
      lifecycle: { preventDestroy: props.protect ?? true },
      tags,
    });
    this.address = props.publicAddress === false ? this.instance.privateIp : this.instance.publicIp;
  }
}
