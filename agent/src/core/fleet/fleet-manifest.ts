import { InputError } from "../errors.js";
import { parsePublicKey } from "../users/keys.js";

/**
 * The fleet manifest: what the infra stacks publish (S3 object, stack output, file) and what
 * `podspawn connect` reads to route `*.pod` names and pin host keys. One definition serves both
 * sides: the validator below and the JSON Schema (docs/schemas/fleet-manifest.schema.json, generated
 * from FLEET_MANIFEST_JSON_SCHEMA and checked by a test) must agree, and both are tested together.
 */
export interface ManifestNode {
  /** DNS label, unique in the fleet; the rendezvous hash input, so renaming moves sessions. */
  readonly name: string;
  /** Host name or IP the client dials. */
  readonly address: string;
  readonly port: number;
  /** `type base64` lines (no options, no comment), pinned under one HostKeyAlias by the client. */
  readonly hostKeys: readonly string[];
}

export interface FleetManifest {
  readonly version: 1;
  readonly fleet: string;
  /** The pseudo-TLD the client routes, e.g. `pod` for `work.pod`. */
  readonly domain: string;
  readonly generatedAt?: string;
  readonly nodes: readonly ManifestNode[];
}

const LABEL = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
const DOMAIN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$";
// A host name (labels, dots) or an IPv4 / bracket-free IPv6 literal; nothing with blanks, '@' or '%'.
const ADDRESS = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?|[0-9a-fA-F:.]{2,45})$";
const HOST_KEY = "^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+={0,2}$";
const DATE_TIME = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$";

export const FLEET_MANIFEST_JSON_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://podspawn.dev/schemas/fleet-manifest.schema.json",
  title: "podspawn fleet manifest",
  description: "Nodes of a podspawn fleet, published by the infra stacks and read by `podspawn connect`.",
  type: "object",
  additionalProperties: false,
  required: ["version", "fleet", "domain", "nodes"],
  properties: {
    version: { const: 1 },
    fleet: { type: "string", pattern: LABEL },
    domain: { type: "string", pattern: DOMAIN, maxLength: 253 },
    generatedAt: { type: "string", pattern: DATE_TIME },
    nodes: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "address", "port", "hostKeys"],
        properties: {
          name: { type: "string", pattern: LABEL },
          address: { type: "string", pattern: ADDRESS, maxLength: 253 },
          port: { type: "integer", minimum: 1, maximum: 65535 },
          hostKeys: { type: "array", minItems: 1, items: { type: "string", pattern: HOST_KEY } },
        },
      },
    },
  },
} as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "..." : value);
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

function checkKeys(obj: Record<string, unknown>, path: string, allowed: readonly string[], required: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new InputError(path ? `${path}.${key}` : key, "is not a known field", allowed.join(", "));
  }
  for (const key of required) {
    if (!(key in obj)) throw new InputError(path ? `${path}.${key}` : key, "is required");
  }
}

function str(value: unknown, path: string, pattern: string, allowed: string, maxLength = 253): string {
  if (typeof value !== "string") throw new InputError(path, `expected a string, got ${describe(value)}`, allowed);
  if (value.length > maxLength || !new RegExp(pattern).test(value)) throw new InputError(path, `${describe(value)} is not valid`, allowed);
  return value;
}

/** Validates an untrusted manifest (parsed JSON) and returns it typed; errors name the JSON path. */
export function validateFleetManifest(value: unknown): FleetManifest {
  if (!isObject(value)) throw new InputError("manifest", `expected an object, got ${describe(value)}`);
  const props = FLEET_MANIFEST_JSON_SCHEMA.properties;
  checkKeys(value, "", Object.keys(props), FLEET_MANIFEST_JSON_SCHEMA.required);
  if (value["version"] !== 1) throw new InputError("version", `expected 1, got ${describe(value["version"])}`, "1");
  const fleet = str(value["fleet"], "fleet", LABEL, "a DNS label: lowercase letters, digits, '-'", 63);
  const domain = str(value["domain"], "domain", DOMAIN, "a lowercase DNS name such as 'pod'");
  let generatedAt: string | undefined;
  if (value["generatedAt"] !== undefined) generatedAt = str(value["generatedAt"], "generatedAt", DATE_TIME, "an RFC 3339 date-time");
  const rawNodes = value["nodes"];
  if (!Array.isArray(rawNodes)) throw new InputError("nodes", `expected an array, got ${describe(rawNodes)}`);
  if (rawNodes.length === 0) throw new InputError("nodes", "is empty", "at least one node");
  const itemProps = props.nodes.items;
  const seen = new Set<string>();
  const nodes = rawNodes.map((raw: unknown, i): ManifestNode => {
    const path = `nodes[${i}]`;
    if (!isObject(raw)) throw new InputError(path, `expected an object, got ${describe(raw)}`);
    checkKeys(raw, path, Object.keys(itemProps.properties), itemProps.required);
    const name = str(raw["name"], `${path}.name`, LABEL, "a DNS label: lowercase letters, digits, '-'", 63);
    if (seen.has(name)) throw new InputError(`${path}.name`, `${JSON.stringify(name)} appears twice`, "unique node names");
    seen.add(name);
    const address = str(raw["address"], `${path}.address`, ADDRESS, "a host name or IP address");
    const port = raw["port"];
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InputError(`${path}.port`, `expected an integer port, got ${describe(port)}`, "1-65535");
    }
    const rawKeys = raw["hostKeys"];
    if (!Array.isArray(rawKeys)) throw new InputError(`${path}.hostKeys`, `expected an array, got ${describe(rawKeys)}`);
    if (rawKeys.length === 0) throw new InputError(`${path}.hostKeys`, "is empty", "at least one host public key");
    const hostKeys = rawKeys.map((k: unknown, j) => {
      const field = `${path}.hostKeys[${j}]`;
      const text = str(k, field, HOST_KEY, "'<type> <base64>' without options or comment", 16 * 1024);
      // The pattern only checks the shape; the blob itself must parse, or the client pins garbage.
      const key = parsePublicKey(text, field);
      if (key.type.startsWith("sk-")) throw new InputError(field, "a security-key type cannot be a host key");
      return text;
    });
    return { name, address, port, hostKeys };
  });
  return generatedAt === undefined ? { version: 1, fleet, domain, nodes } : { version: 1, fleet, domain, generatedAt, nodes };
}

/** The canonical file text: stable key order, two-space indent, trailing newline. */
export function formatFleetManifest(manifest: FleetManifest): string {
  return JSON.stringify(validateFleetManifest(manifest), null, 2) + "\n";
}
