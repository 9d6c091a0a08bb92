import { Route53Record } from "@cdktf/provider-aws/lib/route53-record/index.js";
import { Construct } from "constructs";
import { InputError } from "../../../agent/src/core/errors.js";

export interface DnsNode {
  readonly name: string;
  /** IPv4 address (a token at synth time): the public IP, or the private one in private subnets. */
  readonly address: string;
  /** The SHA-256 host key fingerprint in hex (literal or an interpolation); for SSHFP. */
  readonly sshfpSha256Hex?: string;
}

export interface FleetDnsProps {
  readonly zoneId: string;
  /** e.g. `fleet.example.com`: nodes are `<node>.<name>`. */
  readonly name: string;
  readonly fleet: string;
  readonly nodes: readonly DnsNode[];
  /** Where clients fetch the manifest; goes into the discovery TXT record. @default - not advertised */
  readonly manifestUrl?: string;
  /** @default 300 */
  readonly ttl?: number;
  /** @default false */
  readonly sshfp?: boolean;
}

const DNS_NAME = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** SSHFP algorithm 4 = Ed25519, fingerprint type 2 = SHA-256 (RFC 7479, RFC 6594). */
export function sshfpRecordValue(sha256Hex: string): string {
  return `4 2 ${sha256Hex}`;
}

/**
 * Names for the fleet: an A record per node, `_ssh._tcp.<name>` SRV listing every node (so a
 * client can discover the fleet from DNS alone), `_podspawn.<name>` TXT with the fleet id and
 * manifest location, and optionally SSHFP records for the generated host keys.
 */
export class FleetDns extends Construct {
  readonly nodeNames: ReadonlyMap<string, string>;

  constructor(scope: Construct, id: string, props: FleetDnsProps) {
    super(scope, id);
    if (!DNS_NAME.test(props.name)) throw new InputError("dns.name", `${JSON.stringify(props.name)} is not a lowercase DNS name`);
    const ttl = props.ttl ?? 300;
    const names = new Map<string, string>();
    for (const node of props.nodes) {
      const fqdn = `${node.name}.${props.name}`;
      names.set(node.name, fqdn);
      new Route53Record(this, `${node.name}-a`, { zoneId: props.zoneId, name: fqdn, type: "A", ttl, records: [node.address] });
      if (props.sshfp) {
        if (!node.sshfpSha256Hex) throw new InputError("dns.sshfp", `node ${node.name} has no host key fingerprint`);
        new Route53Record(this, `${node.name}-sshfp`, {
          zoneId: props.zoneId,
          name: fqdn,
          type: "SSHFP",
          ttl,
          records: [sshfpRecordValue(node.sshfpSha256Hex)],
        });
      }
    }
    new Route53Record(this, "discovery-srv", {
      zoneId: props.zoneId,
      name: `_ssh._tcp.${props.name}`,
      type: "SRV",
      ttl,
      records: props.nodes.map((n) => `10 10 22 ${n.name}.${props.name}.`),
    });
    const txt = [`v=podspawn1`, `fleet=${props.fleet}`, ...(props.manifestUrl ? [`manifest=${props.manifestUrl}`] : [])].join(" ");
    new Route53Record(this, "discovery-txt", { zoneId: props.zoneId, name: `_podspawn.${props.name}`, type: "TXT", ttl, records: [txt] });
    this.nodeNames = names;
  }
}
