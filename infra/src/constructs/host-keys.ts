import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document/index.js";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias/index.js";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key/index.js";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter/index.js";
import { Fn, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { createHash } from "node:crypto";
import { InputError } from "../../../agent/src/core/errors.js";
import { sha256FingerprintToHexExpression, TlsEd25519Key, TlsProvider } from "./tls-private-key.js";

export interface HostKeyNode {
  readonly name: string;
  /** The node role that alone may decrypt this key (AWS delivery). */
  readonly readerRoleArn?: string;
  /** With `generate: false`: the public half of a key made outside Terraform. */
  readonly publicKey?: string;
}

/** Delivery through SSM SecureStrings, each under its own customer-managed KMS key. */
export interface HostKeyDelivery {
  /** Parameter names are `<prefix>/<node>/host-key`. */
  readonly parameterPrefix: string;
  readonly region: string;
  readonly accountId: string;
  /** Administers the keys and writes the parameters (the deploy role). */
  readonly adminRoleArn: string;
  /** `alias/<aliasPrefix>-<node>-host-key`. */
  readonly aliasPrefix: string;
}

export interface HostKeysProps {
  readonly nodes: readonly HostKeyNode[];
  /**
   * Generate the keys with Terraform (tls_private_key): the manifest pins them before a node boots,
   * but the private halves are in the state. `false`: keys made outside Terraform, public halves in
   * `nodes[].publicKey`, the SSM parameters written by an operator (docs/infrastructure.md).
   * @default true
   */
  readonly generate?: boolean;
  /** @default - no delivery: the private key is only an attribute (the local fleet uploads it) */
  readonly delivery?: HostKeyDelivery;
}

export interface NodeHostKey {
  readonly node: string;
  /** `ssh-ed25519 AAAA...` (trimmed), the form the fleet manifest carries; a token when generated. */
  readonly publicKey: string;
  /** Only for generated keys. */
  readonly privateKeyOpenssh?: string;
  /** The SHA-256 fingerprint in hex for SSHFP: an interpolation for generated keys, literal otherwise. */
  readonly sshfpSha256Hex: string;
  /** `ssm:/...` source for the bootstrap, when delivered through SSM. */
  readonly source?: string;
  readonly parameterArn?: string;
  readonly kmsKeyArn?: string;
  /** What the node's first boot needs to exist (parameter, key). */
  readonly dependables: readonly ITerraformDependable[];
}

/** SSHFP's hex digest of an `ssh-ed25519 <base64>` key given as text (external keys). */
export function sshfpHexOf(publicKey: string): string {
  const blob = publicKey.trim().split(/\s+/)[1];
  if (!blob) throw new InputError("hostPublicKey", `${JSON.stringify(publicKey)} is not '<type> <base64>'`);
  return createHash("sha256").update(Buffer.from(blob, "base64")).digest("hex");
}

function keyPolicy(scope: Construct, id: string, d: HostKeyDelivery, readerRoleArn: string, parameterArn: string): DataAwsIamPolicyDocument {
  return new DataAwsIamPolicyDocument(scope, id, {
    statement: [
      { sid: "DeployRoleAdministers", effect: "Allow", principals: [{ type: "AWS", identifiers: [d.adminRoleArn] }], actions: ["kms:*"], resources: ["*"] },
      {
        sid: "OnlyThisNodeDecryptsItsHostKey",
        effect: "Allow",
        principals: [{ type: "AWS", identifiers: [readerRoleArn] }],
        actions: ["kms:Decrypt"],
        resources: ["*"],
        condition: [
          { test: "StringEquals", variable: "kms:EncryptionContext:PARAMETER_ARN", values: [parameterArn] },
          { test: "StringEquals", variable: "kms:ViaService", values: [`ssm.${d.region}.amazonaws.com`] },
        ],
      },
    ],
  });
}

/**
 * One ED25519 host key per node. Generated (the default), the manifest pins it before the node
 * ever boots (no trust on first use); for AWS each private half is an SSM SecureString under a
 * KMS key of its own whose policy lets exactly that node's role decrypt it (and the deploy role
 * administer it), so no node can read another's key even with a broader IAM policy.
 */
export class HostKeys extends Construct {
  readonly keys: ReadonlyMap<string, NodeHostKey>;

  constructor(scope: Construct, id: string, props: HostKeysProps) {
    super(scope, id);
    const generate = props.generate ?? true;
    const provider = generate ? new TlsProvider(this, "tls") : undefined;
    const keys = new Map<string, NodeHostKey>();
    for (const node of props.nodes) {
      const key = provider ? new TlsEd25519Key(this, `${node.name}-host-key`, provider) : undefined;
      if (!key && node.publicKey === undefined) throw new InputError(`nodes.${node.name}.hostPublicKey`, "is missing", "the node's host public key when keys are made outside Terraform");
      const delivered = props.delivery ? this.deliver(node, props.delivery, key) : { dependables: [] };
      keys.set(node.name, {
        node: node.name,
        publicKey: key ? Fn.trimspace(key.publicKeyOpenssh) : (node.publicKey as string),
        ...(key ? { privateKeyOpenssh: key.privateKeyOpenssh } : {}),
        sshfpSha256Hex: key ? `\${${sha256FingerprintToHexExpression(key.fingerprintSha256Reference)}}` : sshfpHexOf(node.publicKey as string),
        ...delivered,
      });
    }
    this.keys = keys;
  }

  private deliver(node: HostKeyNode, d: HostKeyDelivery, key: TlsEd25519Key | undefined): Pick<NodeHostKey, "source" | "parameterArn" | "kmsKeyArn" | "dependables"> {
    if (!node.readerRoleArn) throw new Error(`host key of ${node.name}: no reader role`);
    const name = `${d.parameterPrefix}/${node.name}/host-key`;
    // Literal, so the key policy can name it before the parameter exists (and for external keys).
    const parameterArn = `arn:aws:ssm:${d.region}:${d.accountId}:parameter${name}`;
    const policy = keyPolicy(this, `${node.name}-kms-policy`, d, node.readerRoleArn, parameterArn);
    const kms = new KmsKey(this, `${node.name}-kms`, {
      description: `podspawn host key of node ${node.name}`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      policy: policy.json,
    });
    new KmsAlias(this, `${node.name}-kms-alias`, { name: `alias/${d.aliasPrefix}-${node.name}-host-key`, targetKeyId: kms.keyId });
    const dependables: ITerraformDependable[] = [kms];
    if (key) {
      dependables.push(
        new SsmParameter(this, `${node.name}-host-key-param`, {
          name,
          type: "SecureString",
          keyId: kms.arn,
          value: key.privateKeyOpenssh,
          description: `SSH host private key of podspawn node ${node.name}`,
        }),
      );
    }
    return { source: `ssm:${name}`, parameterArn, kmsKeyArn: kms.arn, dependables };
  }
}
