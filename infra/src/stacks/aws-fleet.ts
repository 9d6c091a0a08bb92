import { DataAwsAmi } from "@cdktf/provider-aws/lib/data-aws-ami/index.js";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { S3Object } from "@cdktf/provider-aws/lib/s3-object/index.js";
import { S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { renderBootstrapScript } from "../bootstrap/bootstrap-script.js";
import { renderUserData } from "../bootstrap/user-data.js";
import type { GitConfig } from "../config/git-config.js";
import type { AwsTarget } from "../config/types.js";
import { validateAwsTarget } from "../config/validate.js";
import { AgentArtifact } from "../constructs/agent-artifact.js";
import { ArtifactBucket } from "../constructs/artifact-bucket.js";
import { FleetDns } from "../constructs/dns.js";
import { FleetManifestPublisher } from "../constructs/fleet-manifest.js";
import { HostKeys } from "../constructs/host-keys.js";
import { Network } from "../constructs/network.js";
import { NodeInstance } from "../constructs/node.js";
import { NodeSecurityGroup } from "../constructs/node-security-group.js";
import { applyFleetPolicy } from "../policy/aspects.js";

/** Official Debian cloud images account (https://wiki.debian.org/Cloud/AmazonEC2Image). */
export const DEBIAN_AMI_OWNER = "136693071363";
export const USERS_KEY = "config/users.json";
export const PROJECTS_KEY = "config/projects.json";
export const MANIFEST_KEY = "manifest/fleet.json";

export interface AwsFleetStackProps {
  readonly env: AwsTarget;
  readonly git: GitConfig;
  /** Packed agent: path and sha256 (see writeAgentArtifact). */
  readonly agent: { readonly path: string; readonly sha256: string };
}

/** Composes the AWS fleet for one environment. Every decision lives in a construct or the config. */
export class AwsFleetStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: AwsFleetStackProps) {
    super(scope, id);
    const { env, git, agent } = props;
    validateAwsTarget(env);
    const prefix = `podspawn-${env.fleet}-${env.environment}`;

    new AwsProvider(this, "aws", {
      region: env.region,
      defaultTags: [{ tags: { ...env.tags, "podspawn:fleet": env.fleet, "podspawn:environment": env.environment, "managed-by": "cdktf" } }],
    });
    new S3Backend(this, {
      bucket: env.state.bucket,
      key: env.state.key ?? `podspawn/${env.environment}.tfstate`,
      region: env.state.region,
      encrypt: true,
      ...(env.state.dynamodbTable ? { dynamodbTable: env.state.dynamodbTable } : {}),
    });
    // S3-native state locking (Terraform >= 1.10): no DynamoDB table to bootstrap. cdktf 0.21's
    // S3Backend type predates the flag, hence the override.
    this.addOverride("terraform.backend.s3.use_lockfile", true);

    const network = new Network(this, "network", env.network.kind === "existing"
      ? { existingVpcId: env.network.vpcId, existingSubnetIds: env.network.subnetIds, namePrefix: prefix }
      : { ...(env.network.vpcCidr ? { vpcCidr: env.network.vpcCidr } : {}), ...(env.network.azCount ? { azCount: env.network.azCount } : {}), namePrefix: prefix });
    const sg = new NodeSecurityGroup(this, "node-sg", {
      vpcId: network.vpcId,
      sshIngressCidrs: env.sshIngressCidrs,
      ...(env.egressCidrs ? { egressCidrs: env.egressCidrs } : {}),
      name: `${prefix}-node`,
    });
    const bucket = new ArtifactBucket(this, "artifacts", { bucketName: env.artifactBucket });
    const artifact = new AgentArtifact(this, "agent", { bucket, artifactPath: agent.path, sha256: agent.sha256 });
    new S3Object(this, "users-config", {
      bucket: bucket.bucketId,
      key: USERS_KEY,
      content: JSON.stringify(git.users, null, 2) + "\n",
      contentType: "application/json",
      serverSideEncryption: "AES256",
    });
    new S3Object(this, "projects-config", {
      bucket: bucket.bucketId,
      key: PROJECTS_KEY,
      content: JSON.stringify(git.projects, null, 2) + "\n",
      contentType: "application/json",
      serverSideEncryption: "AES256",
    });

    const amiId = env.amiId ?? new DataAwsAmi(this, "debian-12", {
      mostRecent: true,
      owners: [DEBIAN_AMI_OWNER],
      filter: [
        { name: "name", values: ["debian-12-amd64-*"] },
        { name: "architecture", values: ["x86_64"] },
        { name: "virtualization-type", values: ["hvm"] },
      ],
    }).id;

    const nodeNames = env.nodes.map((n) => n.name);
    const hostKeys = new HostKeys(this, "host-keys", { nodes: nodeNames, ssmParameterPrefix: `/podspawn/${env.fleet}/${env.environment}` });
    const nodes = env.nodes.map((n, i) => {
      const key = hostKeys.keys.get(n.name);
      if (!key?.source || !key.parameterArn) throw new Error(`host key for ${n.name} was not created`);
      const script = renderBootstrapScript({
        instance: "podspawn",
        artifactUrl: artifact.url,
        artifactSha256: artifact.sha256,
        usersUrl: bucket.url(USERS_KEY),
        awsRegion: env.region,
        hostKeyUrl: key.source,
        syncIntervalSeconds: env.syncIntervalSeconds ?? 300,
      });
      const node = new NodeInstance(this, `node-${n.name}`, {
        name: n.name,
        subnetId: network.subnetIds[i % network.subnetIds.length] as string,
        securityGroupIds: [sg.securityGroupId],
        amiId,
        instanceType: n.instanceType ?? env.instanceType ?? "t3.medium",
        ...(env.rootVolumeGiB ? { rootVolumeGiB: env.rootVolumeGiB } : {}),
        userDataBase64: renderUserData(script).base64,
        terminationProtection: env.terminationProtection ?? false,
        readableObjectArns: [artifact.objectArn, bucket.objectArn(USERS_KEY)],
        readableParameterArns: [key.parameterArn],
      });
      return { name: n.name, node, key };
    });

    const dns = new FleetDns(this, "dns", {
      zoneId: env.dns.zoneId,
      name: env.dns.name,
      fleet: env.fleet,
      ttl: env.dns.ttl ?? 300,
      sshfp: env.dns.sshfp ?? false,
      manifestUrl: bucket.url(MANIFEST_KEY),
      nodes: nodes.map((n) => ({ name: n.name, address: n.node.instance.publicIp, sshfpSha256HexExpression: n.key.sshfpSha256HexExpression })),
    });
    new FleetManifestPublisher(this, "manifest", {
      fleet: env.fleet,
      domain: env.clientDomain ?? "pod",
      bucketId: bucket.bucketId,
      key: MANIFEST_KEY,
      nodes: nodes.map((n) => ({ name: n.name, address: dns.nodeNames.get(n.name) as string, port: 22, hostKeys: [n.key.publicKey] })),
    });
    new TerraformOutput(this, "agent_sha256", { value: artifact.sha256 });
    new TerraformOutput(this, "node_public_ips", { value: Object.fromEntries(nodes.map((n) => [n.name, n.node.instance.publicIp])) });
    applyFleetPolicy(this);
  }
}
