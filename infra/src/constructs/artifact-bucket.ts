import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity/index.js";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket/index.js";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls/index.js";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy/index.js";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block/index.js";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning/index.js";
import { Construct } from "constructs";
import { InputError } from "../../../agent/src/core/errors.js";

export interface ArtifactBucketProps {
  /** Globally unique bucket name; literal so user-data can name objects at synth time. */
  readonly bucketName: string;
  /** Allow `terraform destroy` to delete a bucket that still holds objects. @default false */
  readonly forceDestroy?: boolean;
  /**
   * The only principal that may write or delete under `protectedPrefixes` (the deploy role): a
   * user, role or node of the same account with a broad S3 policy still cannot add users to the
   * fleet or swap the agent. @default - no write restriction beyond IAM
   */
  readonly writerRoleArn?: string;
  /** @default ["agent/", "config/"] */
  readonly protectedPrefixes?: readonly string[];
}

const BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * The private bucket that carries the agent, the users config and the fleet manifest to nodes.
 * No ACLs, no public access, SSE on, TLS only, and principals of other accounts denied outright.
 * Nobody is granted read here: the node role's own IAM policy grants exactly the prefixes it reads.
 * What nodes apply (agent, users) can be written by the deploy role only; nodes write their status.
 */
export class ArtifactBucket extends Construct {
  readonly bucketName: string;
  readonly bucketArn: string;
  readonly bucketId: string;

  constructor(scope: Construct, id: string, props: ArtifactBucketProps) {
    super(scope, id);
    if (!BUCKET.test(props.bucketName) || props.bucketName.includes("..")) {
      throw new InputError("artifactBucket", `${JSON.stringify(props.bucketName)} is not a valid S3 bucket name`, "3-63 lowercase letters, digits and '-'");
    }
    const bucket = new S3Bucket(this, "bucket", { bucket: props.bucketName, forceDestroy: props.forceDestroy ?? false });
    new S3BucketOwnershipControls(this, "ownership", { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new S3BucketPublicAccessBlock(this, "public-access", {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
    });
    new S3BucketVersioningA(this, "versioning", { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } });
    const account = new DataAwsCallerIdentity(this, "account");
    const policy = new DataAwsIamPolicyDocument(this, "policy-doc", {
      statement: [
        {
          sid: "DenyInsecureTransport",
          effect: "Deny",
          actions: ["s3:*"],
          principals: [{ type: "*", identifiers: ["*"] }],
          resources: [bucket.arn, `${bucket.arn}/*`],
          condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
        },
        {
          sid: "DenyOtherAccounts",
          effect: "Deny",
          actions: ["s3:*"],
          principals: [{ type: "*", identifiers: ["*"] }],
          resources: [bucket.arn, `${bucket.arn}/*`],
          condition: [{ test: "StringNotEquals", variable: "aws:PrincipalAccount", values: [account.accountId] }],
        },
        ...(props.writerRoleArn === undefined
          ? []
          : [
              {
                sid: "OnlyTheDeployRoleWritesReleases",
                effect: "Deny",
                actions: ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:RestoreObject"],
                principals: [{ type: "*", identifiers: ["*"] }],
                resources: (props.protectedPrefixes ?? ["agent/", "config/"]).map((p) => `${bucket.arn}/${p}*`),
                condition: [{ test: "ArnNotEquals", variable: "aws:PrincipalArn", values: [props.writerRoleArn] }],
              },
            ]),
      ],
    });
    new S3BucketPolicy(this, "policy", { bucket: bucket.id, policy: policy.json });
    this.bucketName = props.bucketName;
    this.bucketArn = `arn:aws:s3:::${props.bucketName}`;
    this.bucketId = bucket.id;
  }

  /** `s3://bucket/key` for the bootstrap. */
  url(key: string): string {
    return `s3://${this.bucketName}/${key}`;
  }
  objectArn(key: string): string {
    return `${this.bucketArn}/${key}`;
  }
}
