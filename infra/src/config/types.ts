/**
 * The typed fleet configuration a platform team edits (infra/src/environments.ts). Everything a stack
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
      /** Public subnets in at least 2 AZs; nodes are spread over them in order. */
      readonly subnetIds: readonly string[];
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
  /** DNS label, unique in the fleet. Renaming replaces the node and moves its sessions. */
  readonly name: string;
  /** @default - the environment's instanceType */
  readonly instanceType?: string;
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
  /** @default - latest official Debian 12 amd64 AMI (owner 136693071363) */
  readonly amiId?: string;
  /** @default 30 */
  readonly rootVolumeGiB?: number;
  /** @default false */
  readonly terminationProtection?: boolean;
  readonly dns: DnsConfig;
  /** Globally unique S3 name for the agent bundle, users config and manifest. */
  readonly artifactBucket: string;
  /** Pseudo-TLD clients route (`work.pod`). @default "pod" */
  readonly clientDomain?: string;
  /** How often nodes converge users from git. @default 300 */
  readonly syncIntervalSeconds?: number;
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
}

export type DeployTarget = AwsTarget | LocalTarget;
