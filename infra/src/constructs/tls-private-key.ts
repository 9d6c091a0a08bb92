import { TerraformProvider, TerraformResource } from "cdktf";
import type { Construct } from "constructs";

/**
 * Hand-written binding for the two pieces of hashicorp/tls we use. The generated
 * @cdktf/provider-tls package is not a dependency, and these few attributes do not justify one.
 */
export class TlsProvider extends TerraformProvider {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      terraformResourceType: "tls",
      terraformGeneratorMetadata: { providerName: "tls", providerVersionConstraint: "~> 4.0" },
      terraformProviderSource: "hashicorp/tls",
    });
  }
  protected override synthesizeAttributes(): Record<string, unknown> {
    return {};
  }
}

/** `tls_private_key` with ED25519 (tls >= 4.0). The private half lives only in Terraform state. */
export class TlsEd25519Key extends TerraformResource {
  constructor(scope: Construct, id: string, provider: TlsProvider) {
    super(scope, id, {
      terraformResourceType: "tls_private_key",
      terraformGeneratorMetadata: { providerName: "tls", providerVersionConstraint: "~> 4.0" },
      provider,
    });
  }
  protected override synthesizeAttributes(): Record<string, unknown> {
    return { algorithm: "ED25519" };
  }
  /** `ssh-ed25519 AAAA...\n` */
  get publicKeyOpenssh(): string {
    return this.getStringAttribute("public_key_openssh");
  }
  get privateKeyOpenssh(): string {
    return this.getStringAttribute("private_key_openssh");
  }
  /** Raw reference for hand-written expressions (see sshfpSha256HexExpression). */
  get fingerprintSha256Reference(): string {
    return `${this.terraformResourceType}.${this.friendlyUniqueId}.public_key_fingerprint_sha256`;
  }
}

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * SSHFP wants the SHA-256 of the key blob in hex; the provider only gives `SHA256:<base64>`, and
 * Terraform has no hex function. This HCL decodes the 43 base64 characters (+ one pad that maps to
 * 0) four at a time into 24-bit numbers, prints each as 6 hex digits and keeps the first 32 bytes.
 * A test evaluates it (test/synth/hcl-expression.ts, no terraform needed) against `ssh-keygen -r`.
 */
export function sha256FingerprintToHexExpression(fingerprintRef: string): string {
  const b64 = `replace(format("%s=", trimprefix(${fingerprintRef}, "SHA256:")), "=", "A")`;
  const digit = (pos: string) => `index(split("", "${B64_ALPHABET}"), substr(${b64}, ${pos}, 1))`;
  return `substr(join("", [for i in range(11) : format("%06x", sum([for j in range(4) : ${digit("i * 4 + j")} * pow(64, 3 - j)]))]), 0, 64)`;
}
