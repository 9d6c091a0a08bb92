/**
 * The typed fleet configuration a platform team edits (infra/src/targets.ts). Everything a stack
 * needs comes from here or from the users/projects files in git; stacks read nothing else.
 */

/** Terraform state in S3 with S3-native locking (Terraform >= 1.10); see docs/infrastructure.md. */
export interface StateBackendConfig {
  readonly bucket: string;
  readonly region: string;
  /** @default - `podspawn/<environment>.tfstate` */
  readonly key?: string;
  /** Extra lock through DynamoDB for Terraform < 1.10. @default - S3 lockfile only */
  readonly dynamodbTable?: string;
}

export type NetworkConfig =
  | {
      readonly kind: "create";
      /** @default "10.42.0.0/16" */
      readonly vpcCidr?: string;
      /** Public subnets, one per AZ; at least 2. @default 2 */
      readonly azCount?: number;
    }
  | {
      readonly kind: "existing";
      readonly vpcId: string;
      /** Subnets in at least 2 AZs; each node keeps one (see NodeEntry.subnet). */
      readonly subnetIds: readonly string[];
      /**
       * `private`: the subnets give no public addresses (a VPN, a peered network, Direct Connect):
       * node records carry the private IP, and the zone should be a private hosted zone.
       * @default "public"
       */
      readonly addressing?: "public" | "private";
    };

export interface DnsConfig {
  /** The Route53 hosted zone that holds the fleet's names. */
  readonly zoneId: string;
  /** Name under which node records live, e.g. `fleet.example.com` (inside the zone). */
  readonly name: string;
  /** @default 300 */
  readonly ttl?: number;
  /**
   * Publish SSHFP records for the generated host keys. Off by default: only useful with a
   * DNSSEC-signed zone and `VerifyHostKeyDNS yes` on clients.
   * @default false
   */
  readonly sshfp?: boolean;
}

export interface NodeEntry {
  /**
   * DNS label, unique in the fleet, at most 28 characters (it becomes the IAM name prefix
   * `podspawn-<name>-`, which AWS limits to 38). Renaming replaces the node and moves its sessions.
   */
  readonly name: string;
  /** @default - the environment's instanceType */
  readonly instanceType?: string;
  /**
   * Index into the network's subnets. Pin it before changing `azCount` or `subnetIds`.
   * @default - chosen from the node's name by rendezvous hashing: stable when other nodes come or go
   */
  readonly subnet?: number;
  /** This node's AMI, to roll a new image one node at a time. @default - the target's amiId */
  readonly amiId?: string;
  /**
   * Lift the replacement guard (`prevent_destroy`) for this node. At most `maxReplacements`
   * nodes may have it at once, so a change that replaces instances goes one node at a time.
   * @default false
   */
  readonly allowReplacement?: boolean;
  /**
   * Mark the node drained in the fleet manifest: clients route to it only when no other node
   * answers. Run `podspawn drain` on the node for the live refusal. @default false
   */
  readonly drained?: boolean;
  /** The node's host public key (`ssh-ed25519 AAAA...`), required with `hostKeys: "external"`. */
  readonly hostPublicKey?: string;
}

export interface AwsTarget {
  readonly kind: "aws";
  /** Stack name and state key; lowercase label. */
  readonly environment: string;
  /** Fleet label carried in the manifest and in resource names. */
  readonly fleet: string;
  readonly region: string;
  readonly state: StateBackendConfig;
  readonly network: NetworkConfig;
  /** Who may reach port 22. Never empty; `0.0.0.0/0` is allowed but must be written out. */
  readonly sshIngressCidrs: readonly string[];
  /** @default ["0.0.0.0/0"] - nodes pull packages, images and the agent from the internet */
  readonly egressCidrs?: readonly string[];
  readonly nodes: readonly NodeEntry[];
  /** @default "t3.medium" */
  readonly instanceType?: string;
  /**
   * The AMI every node boots, pinned: a new image is a deliberate one-line change (roll it with
   * per-node `amiId` and `allowReplacement`). Official Debian 12 images: owner 136693071363, see
   * docs/infrastructure.md for the lookup command.
   */
  readonly amiId: string;
  /** @default 30 */
  readonly rootVolumeGiB?: number;
  /**
   * EC2 termination protection (console/API). Terraform's provider lifts it before it deletes, so
   * the guard that holds in a plan is `prevent_destroy`, on by default (see NodeEntry.allowReplacement).
   * @default false
   */
  readonly terminationProtection?: boolean;
  /** Nodes that may have `allowReplacement` at once. @default 1 */
  readonly maxReplacements?: number;
  /** `prevent_destroy` on every node not marked `allowReplacement`. Off only to tear a fleet down. @default true */
  readonly protectNodes?: boolean;
  /**
   * The role that runs `cdktf deploy` (`arn:aws:iam::<account>:role/<name>`): the only principal
   * that may write the agent, the users file and the manifest, and the administrator of the
   * host-key KMS keys.
   */
  readonly deployRoleArn: string;
  /**
   * `terraform`: a tls_private_key per node (the private halves are in the state: keep it locked
   * down). `external`: you create each SSM parameter yourself (docs/infrastructure.md) and give the
   * public halves as `nodes[].hostPublicKey`; Terraform never sees a private key.
   * @default "terraform"
   */
  readonly hostKeys?: "terraform" | "external";
  readonly dns: DnsConfig;
  /** Globally unique S3 name for the agent bundle, users config and node status (private). */
  readonly artifactBucket: string;
  /** Public bucket serving only `fleet.json` over HTTPS. @default - `<artifactBucket>-manifest` */
  readonly manifestBucket?: string;
  /**
   * Let this deploy's users file remove all users, or more than half, at once (nodes refuse that
   * otherwise). Rides in the users pointer, so it changes no instance; turn it off again after.
   * @default false
   */
  readonly allowMassUserRemoval?: boolean;
  /** How often nodes look at the agent pointer. @default 300 */
  readonly agentPollSeconds?: number;
  /** How long an agent upgrade waits, drained, for the node's sessions to end. @default 3600 */
  readonly upgradeMaxWaitSeconds?: number;
  /** Pseudo-TLD clients route (`work.pod`). @default "pod" */
  readonly clientDomain?: string;
  /** How often nodes converge users from git. @default 300 */
  readonly syncIntervalSeconds?: number;
  /**
   * Known runc escapes every node accepts (`engine.accept_runc_advisories` in the config.yaml the
   * bootstrap writes; ids of agent/src/core/host/runc-advisories.ts). Debian 12's newest runc has
   * four open that reach only through images: without accepting them a Debian 12 node runs only its
   * default environment (docs/operations.md, "runc advisories"). Part of user-data: a change
   * replaces the nodes. @default - none accepted
   */
  readonly acceptRuncAdvisories?: readonly string[];
  /** @default {} */
  readonly tags?: Readonly<Record<string, string>>;
}

export interface LocalTarget {
  readonly kind: "local";
  readonly environment: string;
  readonly fleet: string;
  /** @default 2 */
  readonly nodeCount?: number;
  /** Host port of node i is basePort + i, bound to 127.0.0.1. @default 2201 */
  readonly basePort?: number;
  /** Base image of the node image (must already exist locally when there is no registry). @default "debian:bookworm" */
  readonly baseImage?: string;
  /** @default "pod" */
  readonly clientDomain?: string;
  /** @default 60 */
  readonly syncIntervalSeconds?: number;
  /**
   * Known runc escapes every node accepts (`engine.accept_runc_advisories` in the config.yaml the
   * bootstrap writes; ids of agent/src/core/host/runc-advisories.ts). Debian 12's newest runc has
   * four open that reach only through images: without accepting them a Debian 12 node runs only its
   * default environment (docs/operations.md, "runc advisories"). Part of user-data: a change
   * recreates the node containers. @default - none accepted
   */
  readonly acceptRuncAdvisories?: readonly string[];
}

export type DeployTarget = AwsTarget | LocalTarget;
