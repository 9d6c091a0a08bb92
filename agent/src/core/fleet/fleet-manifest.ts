import * as z from "zod";
import { hint, jsonSchemaOf, refuse, validate, type DeepReadonly } from "../config/schema-kit.js";
import { port } from "../config/unit-schemas.js";
import { InputError } from "../errors.js";
import { parsePublicKey } from "../users/keys.js";

/**
 * The fleet manifest: what the infra stacks publish (S3 object, stack output, file) and what
 * `podspawn connect` reads to route `*.pod` names and pin host keys. The schema below is the one
 * definition: the validator, the TypeScript types and the published JSON Schema
 * (docs/schemas/fleet-manifest.schema.json, checked by a test to equal fleetManifestJsonSchema()).
 */

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DOMAIN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
// A host name (labels, dots) or an IPv4 / bracket-free IPv6 literal; nothing with blanks, '@' or '%'.
const ADDRESS = /^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9a-fA-F:.]{2,45})$/;
const HOST_KEY = /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+={0,2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const label = () => hint(z.string().regex(LABEL), { what: "a DNS label", allowed: "a DNS label: lowercase letters, digits, '-'" });

/** The pattern only checks the shape; the blob itself must parse, or the client pins garbage. */
const hostKey = hint(z.string().max(16 * 1024).regex(HOST_KEY), { what: "a host public key", allowed: "'<type> <base64>' without options or comment" }).superRefine((text, ctx) => {
  try {
    if (parsePublicKey(text, "key").type.startsWith("sk-")) refuse(ctx, "a security-key type cannot be a host key");
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    refuse(ctx, err.problem, { allowed: err.allowed });
  }
});

const MANIFEST_NODE = z.strictObject({
  /** DNS label, unique in the fleet; the rendezvous hash input, so renaming moves sessions. */
  name: label(),
  /** Host name or IP the client dials. */
  address: hint(z.string().max(253).regex(ADDRESS), { what: "a host name or IP address", allowed: "a host name or IP address" }),
  port: port(),
  /** `type base64` lines (no options, no comment), pinned under one HostKeyAlias by the client. */
  hostKeys: hint(z.array(hostKey).min(1), { allowed: "at least one host public key" }),
  /** Taken out of rotation: clients try it only after every other node (see docs/client.md). */
  drained: z.boolean().optional(),
  /**
   * The node's host CA (`podspawn host-ca`), `type base64`: it signs the inner sshd host key of
   * every container on the node (the IDE mode); clients trust it as `@cert-authority podspawn-ide`.
   * @default - absent: client-setup --ide cannot verify this node's inner sshd and says so
   */
  hostCa: hostKey.optional(),
});

const FLEET_MANIFEST_SCHEMA = z.strictObject({
  version: z.literal(1),
  fleet: label(),
  /** The pseudo-TLD the client routes, e.g. `pod` for `work.pod`. */
  domain: hint(z.string().max(253).regex(DOMAIN), { what: "a domain", allowed: "a lowercase DNS name such as 'pod'" }),
  generatedAt: hint(z.string().regex(DATE_TIME), { what: "a date-time", allowed: "an RFC 3339 date-time" }).optional(),
  nodes: hint(z.array(MANIFEST_NODE).min(1), { allowed: "at least one node" }).superRefine((nodes, ctx) => {
    const seen = new Set<string>();
    nodes.forEach((n, i) => {
      if (seen.has(n.name)) refuse(ctx, `${JSON.stringify(n.name)} appears twice`, { allowed: "unique node names", path: [i, "name"] });
      seen.add(n.name);
    });
  }),
});

export type FleetManifest = DeepReadonly<z.output<typeof FLEET_MANIFEST_SCHEMA>>;
export type ManifestNode = FleetManifest["nodes"][number];

/** The published JSON Schema (editors, other tools); generated on demand, nothing at run time needs it. */
export function fleetManifestJsonSchema(): Record<string, unknown> {
  return jsonSchemaOf(FLEET_MANIFEST_SCHEMA, {
    $id: "https://podspawn.dev/schemas/fleet-manifest.schema.json",
    title: "podspawn fleet manifest",
    description: "Nodes of a podspawn fleet, published by the infra stacks and read by `podspawn connect`.",
  });
}

/** Validates an untrusted manifest (parsed JSON) and returns it typed; errors name the JSON path. */
export function validateFleetManifest(value: unknown): FleetManifest {
  return validate(FLEET_MANIFEST_SCHEMA, value);
}

/** The canonical file text: the schema's key order, two-space indent, trailing newline. */
export function formatFleetManifest(manifest: FleetManifest): string {
  return JSON.stringify(validateFleetManifest(manifest), null, 2) + "\n";
}
