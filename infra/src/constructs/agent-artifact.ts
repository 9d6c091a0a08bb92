import { S3Object } from "@cdktf/provider-aws/lib/s3-object/index.js";
import { AssetType, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import type { ArtifactBucket } from "./artifact-bucket.js";

export interface AgentArtifactProps {
  readonly bucket: ArtifactBucket;
  /** The packed agent (see infra/src/bootstrap/agent-bundle.ts). */
  readonly artifactPath: string;
  readonly sha256: string;
}

/**
 * The agent bundle as an immutable S3 object keyed by its content hash: a new agent is a new key,
 * so a half-finished upload can never be what a booting node verifies, and user-data (which names
 * the key and the sha256) changes exactly when the agent does.
 */
export class AgentArtifact extends Construct {
  readonly key: string;
  readonly url: string;
  readonly objectArn: string;
  readonly sha256: string;

  constructor(scope: Construct, id: string, props: AgentArtifactProps) {
    super(scope, id);
    this.key = `agent/${props.sha256}.tar.gz`;
    const asset = new TerraformAsset(this, "bundle", { path: props.artifactPath, type: AssetType.FILE, assetHash: props.sha256 });
    new S3Object(this, "object", {
      bucket: props.bucket.bucketId,
      key: this.key,
      source: asset.path,
      contentType: "application/gzip",
      serverSideEncryption: "AES256",
    });
    this.url = props.bucket.url(this.key);
    this.objectArn = props.bucket.objectArn(this.key);
    this.sha256 = props.sha256;
  }
}
