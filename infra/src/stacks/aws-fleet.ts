import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity/index.js";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { S3Backend, TerraformOutput, TerraformStack, type ITerraformDependable } from "cdktf";
import type { Construct } from "constructs";
import { sha256Hex } from "../bootstrap/agent-bundle.js";
import { renderBootstrapScript } from "../bootstrap/bootstrap-script.js";
import { renderUserData } from "../bootstrap/user-data.js";
import type { GitConfig } from "../config/git-config.js";
import { subnetIndexFor } from "../config/placement.js";
import type { AwsTarget, NodeEntry } from "../config/types.js";
import { validateAwsTarget } from "../config/validate.js";
import { PinnedObject } from "../constructs/agent-artifact.js";
import { ArtifactBucket } from "../constructs/artifact-bucket.js";
import { FleetDns } from "../constructs/dns.js";
import { FleetManifestPublisher } from "../constructs/fleet-manifest.js";
import { HostKeys, type NodeHostKey } from "../constructs/host-keys.js";
import { ManifestSite } from "../constructs/manifest-site.js";
import { Network } from "../constructs/network.js";
import { NodeInstance } from "../constructs/node.js";
import { NodeRole } from "../constructs/node-role.js";
import { NodeSecurityGroup } from "../constructs/node-security-group.js";
import { applyFleetPolicy } from "../policy/aspects.js";

/** Official Debian cloud images account (https://wiki.debian.org/Cloud/AmazonEC2Image). */
export const DEBIAN_AMI_OWNER = "136693071363";
export const AGENT_PREFIX = "agent/";
export const AGENT_POINTER_KEY = "agent/current.sha256";
export const USERS_PREFIX = "config/users-";
export const USERS_POINTER_KEY = "config/users.sha256";
export const PROJECTS_PREFIX = "config/projects-";
export const PROJECTS_POINTER_KEY = "config/projects.sha256";
export const STATUS_PREFIX = "status/";

export interface AwsFleetStackProps {
  readonly env: AwsTarget;
  readonly git: GitConfig;
  /** Packed agent: path and sha256 (see writeAgentArtifact). */
  readonly agent: { readonly path: string; readonly sha256: string };
  /** Packed projects bundle (see writeProjectsBundle). @default - no projects: nodes sync users only */
  readonly projects?: { readonly path: string; readonly sha256: string };
}

/** What nodes follow: each object behind a pointer. */
interface Release {
  readonly agent: PinnedObject;
  readonly users: PinnedObject;
  readonly projects: PinnedObject | null;
}

/** What one node's first boot needs, and the user-data that boots it. */
interface NodePlan {
  readonly entry: NodeEntry;
  readonly role: NodeRole;
  readonly key: NodeHostKey;
}

/** Composes the AWS fleet for one environment. Every decision lives in a construct or the config. */
export class AwsFleetStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: AwsFleetStackProps) {
    super(scope, id);
    const { env, agent } = props;
    validateAwsTarget(env);
    const prefix = `podspawn-${env.fleet}-${env.environment}`;
    this.providerAndState(env);

    const network = new Network(this, "network", env.network.kind === "existing"
      ? { existingVpcId: env.network.vpcId, existingSubnetIds: env.network.subnetIds, namePrefix: prefix, ...(env.network.addressing ? { addressing: env.network.addressing } : {}) }
      : { ...(env.network.vpcCidr ? { vpcCidr: env.network.vpcCidr } : {}), ...(env.network.azCount ? { azCount: env.network.azCount } : {}), namePrefix: prefix });
    const sg = new NodeSecurityGroup(this, "node-sg", {
      vpcId: network.vpcId,
      sshIngressCidrs: env.sshIngressCidrs,
      ...(env.egressCidrs ? { egressCidrs: env.egressCidrs } : {}),
      name: `${prefix}-node`,
    });
    const bucket = new ArtifactBucket(this, "artifacts", { bucketName: env.artifactBucket, writerRoleArn: env.deployRoleArn });
    const release = this.release(bucket, props, env.allowMassUserRemoval === true);
    const account = new DataAwsCallerIdentity(this, "account");

    const roles = new Map(env.nodes.map((n) => [n.name, new NodeRole(this, `node-${n.name}-role`, { name: n.name })]));
    const hostKeys = new HostKeys(this, "host-keys", {
      nodes: env.nodes.map((n) => ({ name: n.name, readerRoleArn: roles.get(n.name)?.arn as string, ...(n.hostPublicKey ? { publicKey: n.hostPublicKey } : {}) })),
      generate: (env.hostKeys ?? "terraform") === "terraform",
      delivery: { parameterPrefix: `/podspawn/${env.fleet}/${env.environment}`, region: env.region, accountId: account.accountId, adminRoleArn: env.deployRoleArn, aliasPrefix: prefix },
    });
    const plans: NodePlan[] = env.nodes.map((entry) => ({ entry, role: roles.get(entry.name) as NodeRole, key: hostKeys.keys.get(entry.name) as NodeHostKey }));
    const nodes = plans.map((plan) => ({ plan, node: this.fleetNode(env, plan, { network, sg, bucket, release }) }));

    const site = new ManifestSite(this, "manifest-site", { bucketName: env.manifestBucket ?? `${env.artifactBucket}-manifest`, region: env.region, writerRoleArn: env.deployRoleArn });
    const dns = new FleetDns(this, "dns", {
      zoneId: env.dns.zoneId,
      name: env.dns.name,
      fleet: env.fleet,
      ttl: env.dns.ttl ?? 300,
      sshfp: env.dns.sshfp ?? false,
      manifestUrl: site.url,
      nodes: nodes.map(({ plan, node }) => ({ name: plan.entry.name, address: node.address, sshfpSha256Hex: plan.key.sshfpSha256Hex })),
    });
    new FleetManifestPublisher(this, "manifest", {
      fleet: env.fleet,
      domain: env.clientDomain ?? "pod",
      bucketId: site.bucketId,
      key: site.key,
      nodes: nodes.map(({ plan }) => ({ name: plan.entry.name, address: dns.nodeNames.get(plan.entry.name) as string, port: 22, hostKeys: [plan.key.publicKey], ...(plan.entry.drained ? { drained: true } : {}) })),
    });
    new TerraformOutput(this, "manifest_url", { value: site.url, description: "HTTPS URL of the fleet manifest (podspawn client-setup --manifest, or --discover)" });
    new TerraformOutput(this, "agent_sha256", { value: agent.sha256 });
    new TerraformOutput(this, "node_status_urls", { value: Object.fromEntries(env.nodes.map((n) => [n.name, bucket.url(`${STATUS_PREFIX}${n.name}.json`)])) });
    new TerraformOutput(this, "node_addresses", { value: Object.fromEntries(nodes.map(({ plan, node }) => [plan.entry.name, node.address])) });
    applyFleetPolicy(this);
  }

  private providerAndState(env: AwsTarget): void {
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
  }

  /** The agent, the users file and the projects bundle, each behind a pointer nodes follow (user-data names only the pointers). */
  private release(bucket: ArtifactBucket, props: AwsFleetStackProps, allowMassRemoval: boolean): Release {
    const { agent, git, projects } = props;
    const usersText = JSON.stringify(git.users, null, 2) + "\n";
    const usersSha = sha256Hex(usersText);
    return {
      agent: new PinnedObject(this, "agent", { bucket, key: `${AGENT_PREFIX}${agent.sha256}.tar.gz`, sha256: agent.sha256, pointerKey: AGENT_POINTER_KEY, source: { path: agent.path }, contentType: "application/gzip" }),
      users: new PinnedObject(this, "users", { bucket, key: `${USERS_PREFIX}${usersSha}.json`, sha256: usersSha, pointerKey: USERS_POINTER_KEY, source: { content: usersText }, contentType: "application/json", ...(allowMassRemoval ? { pointerFlags: ["allow-mass-removal"] } : {}) }),
      projects: projects ? new PinnedObject(this, "projects", { bucket, key: `${PROJECTS_PREFIX}${projects.sha256}.tar`, sha256: projects.sha256, pointerKey: PROJECTS_POINTER_KEY, source: { path: projects.path }, contentType: "application/x-tar" }) : null,
    };
  }

  private fleetNode(env: AwsTarget, plan: NodePlan, on: { network: Network; sg: NodeSecurityGroup; bucket: ArtifactBucket; release: Release }): NodeInstance {
    const { entry, role, key } = plan;
    const { network, bucket, release } = on;
    const statusKey = `${STATUS_PREFIX}${entry.name}.json`;
    const script = renderBootstrapScript({
      instance: "podspawn",
      node: entry.name,
      agentPointerUrl: release.agent.pointerUrl,
      agentBaseUrl: bucket.url(AGENT_PREFIX),
      usersPointerUrl: release.users.pointerUrl,
      usersBaseUrl: bucket.url(USERS_PREFIX),
      ...(release.projects ? { projectsPointerUrl: release.projects.pointerUrl, projectsBaseUrl: bucket.url(PROJECTS_PREFIX) } : {}),
      statusUrl: bucket.url(statusKey),
      awsRegion: env.region,
      ...(key.source ? { hostKeyUrl: key.source } : {}),
      syncIntervalSeconds: env.syncIntervalSeconds ?? 300,
      agentPollSeconds: env.agentPollSeconds ?? 300,
      upgradeMaxWaitSeconds: env.upgradeMaxWaitSeconds ?? 3600,
      ...(env.acceptRuncAdvisories ? { acceptRuncAdvisories: env.acceptRuncAdvisories } : {}),
    });
    const policy = role.grant({
      // Any agent release, users file and projects bundle: keys name their hash, the pointers say which one.
      readableObjectArns: [
        bucket.objectArn(`${AGENT_PREFIX}*`), bucket.objectArn(`${USERS_PREFIX}*`), release.users.pointerArn,
        ...(release.projects ? [bucket.objectArn(`${PROJECTS_PREFIX}*`), release.projects.pointerArn] : []),
      ],
      writableObjectArns: [bucket.objectArn(statusKey)],
      readableParameterArns: key.parameterArn ? [key.parameterArn] : [],
      decryptKeyArns: key.kmsKeyArn ? [key.kmsKeyArn] : [],
    });
    const index = subnetIndexFor(entry.name, network.subnetKeys, entry.subnet);
    const pinned = [release.agent, release.users, ...(release.projects ? [release.projects] : [])];
    const firstBootNeeds: ITerraformDependable[] = [...pinned.flatMap((o) => [o.object, o.pointer]), policy, ...key.dependables, ...network.dependables];
    return new NodeInstance(this, `node-${entry.name}`, {
      name: entry.name,
      subnetId: network.subnetIds[index] as string,
      securityGroupIds: [on.sg.securityGroupId],
      amiId: entry.amiId ?? env.amiId,
      instanceType: entry.instanceType ?? env.instanceType ?? "t3.medium",
      ...(env.rootVolumeGiB ? { rootVolumeGiB: env.rootVolumeGiB } : {}),
      userDataBase64: renderUserData(script).base64,
      role,
      dependsOn: firstBootNeeds,
      protect: (env.protectNodes ?? true) && entry.allowReplacement !== true,
      terminationProtection: env.terminationProtection ?? false,
      publicAddress: network.addressing === "public",
    });
  }
}
