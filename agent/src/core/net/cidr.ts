import type { Parsed } from "../config/units.js";

/**
 * IPv4 address blocks as plain numbers (an address is 0..2^32-1; arithmetic, not bitwise
 * operators, which are signed 32-bit in JS). Text is read strictly: four decimal octets without
 * leading zeros (`010` reads as octal in some tools and decimal in others), a prefix 0-32, and no
 * host bits set, so one block has one spelling.
 */
export interface Cidr {
  /** The first address of the block. */
  readonly base: number;
  readonly prefix: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;
const PREFIX = /^(0|[1-9][0-9]?)$/;

export const CIDR_ALLOWED = "an IPv4 block such as 198.18.0.0/15: four decimal octets, /0-32, no host bits set";

export function readAddress(text: string): Parsed<number> {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p) && Number(p) <= 255)) return { ok: false, problem: `${JSON.stringify(text)} is not an IPv4 address` };
  return { ok: true, value: parts.reduce((n, p) => n * 256 + Number(p), 0) };
}

export function formatAddress(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join(".");
}

export function blockSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** One past the last address. */
export function cidrEnd(c: Cidr): number {
  return c.base + blockSize(c.prefix);
}

export function readCidr(value: unknown): Parsed<Cidr> {
  if (typeof value !== "string") return { ok: false, problem: `expected an IPv4 block, got ${typeof value}` };
  const [addressText = "", prefixText, ...rest] = value.split("/");
  if (prefixText === undefined || rest.length > 0 || !PREFIX.test(prefixText) || Number(prefixText) > 32) return { ok: false, problem: `${JSON.stringify(value)} is not an address/prefix block` };
  const address = readAddress(addressText);
  if (!address.ok) return address;
  const prefix = Number(prefixText);
  const base = address.value - (address.value % blockSize(prefix));
  if (base !== address.value) return { ok: false, problem: `${JSON.stringify(value)} has host bits set; did you mean ${formatCidr({ base, prefix })}?` };
  return { ok: true, value: { base, prefix } };
}

export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.base)}/${c.prefix}`;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < cidrEnd(b) && b.base < cidrEnd(a);
}

export function contains(outer: Cidr, inner: Cidr): boolean {
  return outer.base <= inner.base && cidrEnd(inner) <= cidrEnd(outer);
}

/** The block's first usable address: where Docker puts the bridge (the containers' gateway). */
export function firstHost(c: Cidr): string {
  return formatAddress(c.base + 1);
}


/**
 * The block an engine reports, host bits cleared (`10.1.2.3/24` is 10.1.2.0/24), or null for
 * anything that is not IPv4 (an IPv6 subnet, an empty field).
 */
export function blockOf(text: string): Cidr | null {
  const [addressText = "", prefixText = "", ...rest] = text.trim().split("/");
  const address = readAddress(addressText);
  if (!address.ok || rest.length > 0 || !PREFIX.test(prefixText) || Number(prefixText) > 32) return null;
  const prefix = Number(prefixText);
  return { base: address.value - (address.value % blockSize(prefix)), prefix };
}
