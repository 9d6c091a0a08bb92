import { Fn } from "cdktf";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter/index.js";
import { Construct } from "constructs";
import { sha256FingerprintToHexExpression, TlsEd25519Key, TlsProvider } from "./tls-private-key.js";

export interface HostKeysProps {
  /** Node names; one ED25519 host key each. */
  readonly nodes: readonly string[];
  /**
   * Deliver each private key as an SSM SecureString `<prefix>/<node>/host-key` (read by the node's
   * bootstrap with its own role). @default - not stored outside Terraform state
   */
  readonly ssmParameterPrefix?: string;
}

export interface NodeHostKey {
  readonly node: string;
  /** `ssh-ed25519 AAAA...` (trimmed), the form the fleet manifest carries. */
  readonly publicKey: string;
  readonly privateKeyOpenssh: string;
  /** Terraform expression (no `${}`) for the SHA-256 SSHFP fingerprint in hex. */
  readonly sshfpSha256HexExpression: string;
  /** `ssm:/...` source for the bootstrap, when delivered through SSM. */
  readonly source?: string;
  readonly parameterArn?: string;
}

/**
 * Host keys generated per node at deploy time, so the manifest can pin them before the node ever
 * boots (no trust-on-first-use). The private halves sit in the encrypted state and, for AWS, in SSM.
 */
export class HostKeys extends Construct {
  readonly keys: ReadonlyMap<string, NodeHostKey>;

  constructor(scope: Construct, id: string, props: HostKeysProps) {
    super(scope, id);
    const provider = new TlsProvider(this, "tls");
    const keys = new Map<string, NodeHostKey>();
    for (const node of props.nodes) {
      const key = new TlsEd25519Key(this, `${node}-host-key`, provider);
      let source: string | undefined;
      let parameterArn: string | undefined;
      if (props.ssmParameterPrefix !== undefined) {
        const name = `${props.ssmParameterPrefix}/${node}/host-key`;
        const param = new SsmParameter(this, `${node}-host-key-param`, {
          name,
          type: "SecureString",
          value: key.privateKeyOpenssh,
          description: `SSH host private key of podspawn node ${node}`,
        });
        source = `ssm:${name}`;
        parameterArn = param.arn;
      }
      keys.set(node, {
        node,
        publicKey: Fn.trimspace(key.publicKeyOpenssh),
        privateKeyOpenssh: key.privateKeyOpenssh,
        sshfpSha256HexExpression: sha256FingerprintToHexExpression(key.fingerprintSha256Reference),
        ...(source !== undefined ? { source } : {}),
        ...(parameterArn !== undefined ? { parameterArn } : {}),
      });
    }
    this.keys = keys;
  }
}
