import { S3Object } from "@cdktf/provider-aws/lib/s3-object/index.js";
import { AssetType, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import type { ArtifactBucket } from "./artifact-bucket.js";

export interface PinnedObjectProps {
  readonly bucket: ArtifactBucket;
  /** The object's key, which names its hash (`agent/<sha256>.tar.gz`). */
  readonly key: string;
  readonly sha256: string;
  /** The pointer object nodes poll: it holds `<sha256>\n`. */
  readonly pointerKey: string;
  /** A file to upload (the agent), or the content itself (the users file). */
  readonly source: { readonly path: string } | { readonly content: string };
  readonly contentType: string;
  /** Words after the sha256 in the pointer (`allow-mass-removal`). @default [] */
  readonly pointerFlags?: readonly string[];
}

/**
 * An object nodes apply only after checking it against the hash a pointer names. The object is
 * immutable and keyed by its hash, so a half-finished upload can never be what a node verifies;
 * the pointer is written after it (depends_on), so a node never follows a pointer to nothing.
 * User-data names only the pointer: a new agent or users file changes the pointer's content, not
 * the instances.
 */
export class PinnedObject extends Construct {
  readonly key: string;
  readonly url: string;
  readonly objectArn: string;
  readonly pointerUrl: string;
  readonly pointerArn: string;
  readonly sha256: string;
  readonly object: S3Object;
  readonly pointer: S3Object;

  constructor(scope: Construct, id: string, props: PinnedObjectProps) {
    super(scope, id);
    this.key = props.key;
    const body =
      "path" in props.source
        ? { source: new TerraformAsset(this, "bundle", { path: props.source.path, type: AssetType.FILE, assetHash: props.sha256 }).path }
        : { content: props.source.content };
    this.object = new S3Object(this, "object", { bucket: props.bucket.bucketId, key: this.key, ...body, contentType: props.contentType, serverSideEncryption: "AES256" });
    this.pointer = new S3Object(this, "pointer", {
      bucket: props.bucket.bucketId,
      key: props.pointerKey,
      content: `${[props.sha256, ...(props.pointerFlags ?? [])].join(" ")}\n`,
      contentType: "text/plain",
      serverSideEncryption: "AES256",
      dependsOn: [this.object],
    });
    this.url = props.bucket.url(this.key);
    this.objectArn = props.bucket.objectArn(this.key);
    this.pointerUrl = props.bucket.url(props.pointerKey);
    this.pointerArn = props.bucket.objectArn(props.pointerKey);
    this.sha256 = props.sha256;
  }
}
