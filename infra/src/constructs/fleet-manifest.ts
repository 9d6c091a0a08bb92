import { S3Object } from "@cdktf/provider-aws/lib/s3-object/index.js";
import { TerraformOutput } from "cdktf";
import { Construct } from "constructs";
import { validateFleetManifest, type FleetManifest } from "../../../agent/src/core/fleet/fleet-manifest.js";

export interface ManifestNode {
  readonly name: string;
  readonly address: string;
  /** @default 22 */
  readonly port?: number;
  /** `ssh-ed25519 AAAA...`; may be deploy-time tokens. */
  readonly hostKeys: readonly string[];
  /** Clients route to a drained node only when no other answers. @default false */
  readonly drained?: boolean;
}

export interface FleetManifestProps {
  readonly fleet: string;
  /** @default "pod" */
  readonly domain?: string;
  readonly nodes: readonly ManifestNode[];
  /** Publish as this S3 object as well (the public HTTPS site). @default - stack output only */
  readonly bucketId?: string;
  /** @default "fleet.json" */
  readonly key?: string;
}

/** What `validateFleetManifest` is shown at synth for values only known at deploy time. */
const PLACEHOLDER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/** The manifest text with deploy-time values left as Terraform interpolations inside JSON strings. */
export function renderManifestTemplate(m: FleetManifest): string {
  return JSON.stringify(m, null, 2) + "\n";
}

/**
 * Publishes the fleet manifest in the exact format `podspawn connect` reads: the stack output
 * `fleet_manifest` (JSON text) and, optionally, an S3 object. The shape is checked at synth with the
 * client's own validator, host keys standing in as placeholders until Terraform knows them.
 */
export class FleetManifestPublisher extends Construct {
  readonly text: string;
  readonly output: TerraformOutput;

  constructor(scope: Construct, id: string, props: FleetManifestProps) {
    super(scope, id);
    const manifest: FleetManifest = {
      version: 1,
      fleet: props.fleet,
      domain: props.domain ?? "pod",
      nodes: props.nodes.map((n) => ({ name: n.name, address: n.address, port: n.port ?? 22, hostKeys: [...n.hostKeys], ...(n.drained ? { drained: true } : {}) })),
    };
    validateFleetManifest({
      ...manifest,
      nodes: manifest.nodes.map((n) => ({
        ...n,
        address: n.address.includes("${") ? "placeholder.invalid" : n.address,
        hostKeys: n.hostKeys.map((k) => (k.includes("${") ? PLACEHOLDER_KEY : k)),
      })),
    });
    this.text = renderManifestTemplate(manifest);
    this.output = new TerraformOutput(this, "fleet_manifest", { value: this.text, description: "podspawn fleet manifest (JSON)" });
    this.output.overrideLogicalId("fleet_manifest");
    if (props.bucketId !== undefined) {
      new S3Object(this, "object", {
        bucket: props.bucketId,
        key: props.key ?? "fleet.json",
        content: this.text,
        contentType: "application/json",
        // Clients revalidate with the ETag; a minute bounds how stale a cache in between can be.
        cacheControl: "max-age=60",
        serverSideEncryption: "AES256",
      });
    }
  }
}
