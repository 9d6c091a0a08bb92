import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket/index.js";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls/index.js";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy/index.js";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block/index.js";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning/index.js";
import { Construct } from "constructs";
import { InputError } from "../../../agent/src/core/errors.js";

export interface ManifestSiteProps {
  /** Globally unique; without dots, so the S3 wildcard certificate covers `https://<name>.s3.<region>.amazonaws.com`. */
  readonly bucketName: string;
  readonly region: string;
  /** The only principal that may write the manifest. */
  readonly writerRoleArn: string;
  /** @default "fleet.json" */
  readonly key?: string;
}

const BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * Where clients fetch the fleet manifest: over HTTPS from S3, readable by anyone, because it
 * holds only public facts (node names, addresses, ports, host public keys). Exactly one object is
 * public; plain http is denied (clients refuse it anyway, redirects included), ACLs are off, and
 * only the deploy role writes. S3 answers with an ETag, so clients revalidate cheaply.
 */
export class ManifestSite extends Construct {
  readonly bucketId: string;
  readonly key: string;
  readonly url: string;
  readonly objectArn: string;

  constructor(scope: Construct, id: string, props: ManifestSiteProps) {
    super(scope, id);
    if (!BUCKET.test(props.bucketName)) {
      throw new InputError("manifestBucket", `${JSON.stringify(props.bucketName)} is not a valid S3 bucket name without dots`, "3-63 lowercase letters, digits and '-' (dots would break the HTTPS certificate)");
    }
    this.key = props.key ?? "fleet.json";
    const bucket = new S3Bucket(this, "bucket", { bucket: props.bucketName });
    new S3BucketOwnershipControls(this, "ownership", { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    // ACLs stay blocked; only the bucket policy below may grant public read (of one key).
    const access = new S3BucketPublicAccessBlock(this, "public-access", { bucket: bucket.id, blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: false, restrictPublicBuckets: false });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", { bucket: bucket.id, rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] });
    new S3BucketVersioningA(this, "versioning", { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } });
    this.objectArn = `arn:aws:s3:::${props.bucketName}/${this.key}`;
    const policy = new DataAwsIamPolicyDocument(this, "policy-doc", {
      statement: [
        { sid: "PublicReadOfTheManifestOnly", effect: "Allow", actions: ["s3:GetObject"], principals: [{ type: "*", identifiers: ["*"] }], resources: [this.objectArn] },
        {
          sid: "DenyInsecureTransport",
          effect: "Deny",
          actions: ["s3:*"],
          principals: [{ type: "*", identifiers: ["*"] }],
          resources: [bucket.arn, `${bucket.arn}/*`],
          condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
        },
        {
          sid: "OnlyTheDeployRoleWrites",
          effect: "Deny",
          actions: ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutBucketPolicy"],
          principals: [{ type: "*", identifiers: ["*"] }],
          resources: [bucket.arn, `${bucket.arn}/*`],
          condition: [{ test: "ArnNotEquals", variable: "aws:PrincipalArn", values: [props.writerRoleArn] }],
        },
      ],
    });
    new S3BucketPolicy(this, "policy", { bucket: bucket.id, policy: policy.json, dependsOn: [access] });
    this.bucketId = bucket.id;
    this.url = `https://${props.bucketName}.s3.${props.region}.amazonaws.com/${this.key}`;
  }
}
