import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../agent/src/core/errors.js";
import { PinnedObject } from "../../infra/src/constructs/agent-artifact.js";
import { ArtifactBucket } from "../../infra/src/constructs/artifact-bucket.js";
import { bareStack, fakeAgent, resources, synth } from "./fixtures.js";

describe("ArtifactBucket", () => {
  const stack = bareStack();
  new ArtifactBucket(stack, "b", { bucketName: "acme-artifacts" });
  const { json } = synth(stack);

  it("blocks every kind of public access and disables ACLs", () => {
    assert.deepEqual(
      resources(json, "aws_s3_bucket_public_access_block").map(({ bucket: _b, ...rest }) => rest),
      [{ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true }],
    );
    assert.equal((resources(json, "aws_s3_bucket_ownership_controls")[0]?.["rule"] as Record<string, unknown>)["object_ownership"], "BucketOwnerEnforced");
    assert.equal(resources(json, "aws_s3_bucket_acl").length, 0);
  });

  it("encrypts at rest", () => {
    const sse = resources(json, "aws_s3_bucket_server_side_encryption_configuration")[0]?.["rule"] as { apply_server_side_encryption_by_default: { sse_algorithm: string } }[];
    assert.equal(sse[0]?.apply_server_side_encryption_by_default.sse_algorithm, "AES256");
  });

  it("denies plain HTTP and other accounts, and grants nothing to anyone", () => {
    const doc = Object.values(json.data["aws_iam_policy_document"] ?? {})[0] as { statement: Record<string, unknown>[] };
    assert.ok(doc.statement.every((s) => s["effect"] === "Deny"), "bucket policy only denies");
    const tls = doc.statement.find((s) => s["sid"] === "DenyInsecureTransport");
    assert.deepEqual(tls?.["condition"], [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }]);
    assert.ok(doc.statement.some((s) => s["sid"] === "DenyOtherAccounts"));
    assert.equal(resources(json, "aws_s3_bucket_policy").length, 1);
  });

  it("refuses an invalid bucket name", () => {
    assert.throws(() => new ArtifactBucket(bareStack(), "b", { bucketName: "Bad_Name" }), InputError);
  });
});

describe("PinnedObject", () => {
  it("stores the bundle under a key made of its sha256, and a pointer holding that sha256 written after it", async () => {
    const stack = bareStack();
    const agent = await fakeAgent();
    const bucket = new ArtifactBucket(stack, "b", { bucketName: "acme-artifacts" });
    const art = new PinnedObject(stack, "a", { bucket, key: `agent/${agent.sha256}.tar.gz`, sha256: agent.sha256, pointerKey: "agent/current.sha256", source: { path: agent.path }, contentType: "application/gzip" });
    const [obj, pointer] = resources(synth(stack).json, "aws_s3_object");
    assert.equal(obj?.["key"], `agent/${agent.sha256}.tar.gz`);
    assert.match(String(obj?.["source"]), new RegExp(`assets/.*${agent.sha256}`));
    assert.equal(pointer?.["key"], "agent/current.sha256");
    assert.equal(pointer?.["content"], `${agent.sha256}\n`);
    assert.match(String((pointer?.["depends_on"] as string[])[0]), /^aws_s3_object\.a_object/);
    assert.equal(art.pointerUrl, "s3://acme-artifacts/agent/current.sha256");
    assert.equal(art.objectArn, `arn:aws:s3:::acme-artifacts/agent/${agent.sha256}.tar.gz`);
  });
});

describe("ArtifactBucket with a writer role", () => {
  it("denies writes under the release prefixes to every principal but that role", () => {
    const stack = bareStack();
    new ArtifactBucket(stack, "b", { bucketName: "acme-artifacts", writerRoleArn: "arn:aws:iam::1:role/deploy" });
    const doc = Object.values(synth(stack).json.data["aws_iam_policy_document"] ?? {})[0] as { statement: Record<string, unknown>[] };
    const deny = doc.statement.find((s) => s["sid"] === "OnlyTheDeployRoleWritesReleases");
    assert.equal(deny?.["effect"], "Deny");
    assert.deepEqual(deny?.["condition"], [{ test: "ArnNotEquals", variable: "aws:PrincipalArn", values: ["arn:aws:iam::1:role/deploy"] }]);
  });
});
