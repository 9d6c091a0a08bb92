import { createHash } from "node:crypto";
import { InputError } from "../errors.js";

/**
 * SSH public key parsing. We parse the base64 blob in the SSH wire format (RFC 4253/5656/8709 and
 * OpenSSH's PROTOCOL.u2f) rather than pattern-matching text, so a truncated or mislabelled blob is
 * refused here instead of silently never matching in sshd. Options and comments are dropped: what
 * we store is only `type base64`, and the only options a key line ever gets are the ones we render.
 */

export const SUPPORTED_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;
export type KeyType = (typeof SUPPORTED_KEY_TYPES)[number];

export const MIN_RSA_BITS = 2048;
const ALLOWED = `one OpenSSH public key line of type ${SUPPORTED_KEY_TYPES.join(", ")} (RSA >= ${MIN_RSA_BITS} bits)`;

export interface PublicKey {
  readonly type: KeyType;
  /** Canonical base64 of the wire-format blob. */
  readonly base64: string;
  /** `SHA256:...` as printed by `ssh-keygen -l`. */
  readonly fingerprint: string;
  readonly bits: number;
}

const ECDSA_POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  string(what: string): Buffer {
    if (this.offset + 4 > this.buf.length) throw new Error(`truncated before ${what}`);
    const len = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    if (len > this.buf.length - this.offset) throw new Error(`truncated inside ${what}`);
    const out = this.buf.subarray(this.offset, this.offset + len);
    this.offset += len;
    return out;
  }
  done(): boolean {
    return this.offset === this.buf.length;
  }
}

function bitLength(mpint: Buffer): number {
  let i = 0;
  while (i < mpint.length && mpint[i] === 0) i++;
  if (i === mpint.length) return 0;
  return (mpint.length - i - 1) * 8 + (32 - Math.clz32(mpint[i] as number));
}

export function fingerprintOf(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

/** Parse and check the blob; returns the number of bits of the key. Throws plain Errors. */
function checkBlob(type: KeyType, blob: Buffer): number {
  const r = new WireReader(blob);
  const inner = r.string("key type").toString("latin1");
  if (inner !== type) throw new Error(`the blob says ${JSON.stringify(inner)} but the line says ${type}`);
  let bits: number;
  switch (type) {
    case "ssh-ed25519":
    case "sk-ssh-ed25519@openssh.com": {
      if (r.string("ed25519 public key").length !== 32) throw new Error("ed25519 public key is not 32 bytes");
      bits = 256;
      break;
    }
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521":
    case "sk-ecdsa-sha2-nistp256@openssh.com": {
      const curve = r.string("curve name").toString("latin1");
      const expected = type.startsWith("sk-") ? "nistp256" : type.slice("ecdsa-sha2-".length);
      if (curve !== expected) throw new Error(`curve ${JSON.stringify(curve)} does not match ${type}`);
      const point = r.string("public point");
      if (point.length !== ECDSA_POINT_BYTES[curve] || point[0] !== 0x04) throw new Error("public point is not an uncompressed point on the curve");
      bits = curve === "nistp521" ? 521 : Number(curve.slice(5));
      break;
    }
    case "ssh-rsa": {
      const e = r.string("RSA exponent");
      const n = r.string("RSA modulus");
      if (bitLength(e) === 0) throw new Error("RSA exponent is zero");
      bits = bitLength(n);
      if (bits < MIN_RSA_BITS) throw new Error(`RSA key has ${bits} bits`);
      break;
    }
  }
  if (type.startsWith("sk-")) r.string("security key application");
  if (!r.done()) throw new Error("trailing bytes after the key");
  return bits;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parse one authorized_keys-style line: `[options] type base64 [comment]`.
 * Options and the comment are discarded. Throws InputError naming `field`.
 */
export function parsePublicKey(line: string, field = "key"): PublicKey {
  if (/[\r\n\0]/.test(line.trim())) throw new InputError(field, "contains a line break or NUL; give one key per value", ALLOWED);
  const text = line.trim();
  if (text === "") throw new InputError(field, "is empty", ALLOWED);
  if (text.length > 16 * 1024) throw new InputError(field, `is ${text.length} characters long, more than 16384`, ALLOWED);
  // Options may contain quoted spaces, so find the type token instead of splitting at the first blank.
  const tokens = tokenize(text);
  const idx = tokens.findIndex((t) => (SUPPORTED_KEY_TYPES as readonly string[]).includes(t));
  if (idx < 0) {
    const seen = tokens.find((t) => /^(ssh-|ecdsa-|sk-)/.test(t));
    throw new InputError(field, seen ? `key type ${JSON.stringify(seen)} is not supported` : "no key type found", ALLOWED);
  }
  const type = tokens[idx] as KeyType;
  const b64 = tokens[idx + 1];
  if (b64 === undefined) throw new InputError(field, `${type} key has no base64 data`, ALLOWED);
  if (!BASE64.test(b64)) throw new InputError(field, "key data is not valid base64", ALLOWED);
  const blob = Buffer.from(b64, "base64");
  let bits: number;
  try {
    bits = checkBlob(type, blob);
  } catch (err) {
    throw new InputError(field, `malformed ${type} key: ${(err as Error).message}`, ALLOWED);
  }
  return { type, base64: blob.toString("base64"), fingerprint: fingerprintOf(blob), bits };
}

/** Split on unquoted blanks, keeping quoted option values (`command="a b"`) in one token. */
function tokenize(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "\\" && quoted && i + 1 < text.length) {
      cur += c + text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      cur += c;
    } else if ((c === " " || c === "\t") && !quoted) {
      if (cur) out.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * Parse a whole key file (authorized_keys format or a GitHub `.keys` response): blank lines and `#`
 * comments are skipped; every other line must be a valid key, or the whole file is refused.
 */
export function parseKeyFile(text: string, field: string): PublicKey[] {
  const keys: PublicKey[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    keys.push(parsePublicKey(line, `${field}:${i + 1}`));
  });
  return keys;
}

/** The canonical stored form. */
export function formatPublicKey(key: PublicKey): string {
  return `${key.type} ${key.base64}`;
}

/** Keys in the order given, without repeats (by fingerprint). */
export function uniqueKeys(keys: readonly PublicKey[]): PublicKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => (seen.has(k.fingerprint) ? false : (seen.add(k.fingerprint), true)));
}
