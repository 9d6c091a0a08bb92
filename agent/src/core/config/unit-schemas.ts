import * as z from "zod";
import { hint, refuse, viaParsed } from "./schema-kit.js";
import { BYTE_SIZE, DURATION, formatBytes, formatDurationMs, portAllowed, PORT, readBytes, readDurationMs, type PortOptions } from "./units.js";

/**
 * The units of units.ts as schema pieces. The union says in the JSON Schema what may be written
 * (a number, or text of the unit's pattern); the units.ts reader does the parsing, so there is
 * one grammar per unit.
 */

/** A whole number, or text matching `pattern`, both worded as `spec`. */
function numberOrText(spec: { readonly what: string; readonly allowed: string; readonly pattern: string }) {
  return hint(z.union([hint(z.int().min(0), spec), hint(z.string().regex(new RegExp(spec.pattern)), spec)]), spec);
}

/** A duration in milliseconds (`30s`, `5m`; a bare number is seconds). */
export function duration(opts: { readonly maxMs?: number } = {}) {
  return numberOrText(DURATION)
    .transform(viaParsed(readDurationMs, DURATION.allowed))
    .superRefine((ms, ctx) => {
      if (opts.maxMs !== undefined && ms > opts.maxMs) refuse(ctx, `${formatDurationMs(ms)} is longer than ${formatDurationMs(opts.maxMs)}`, { allowed: `at most ${formatDurationMs(opts.maxMs)}` });
    });
}

/** A byte count (`512m`, `2g`; a bare number is bytes). */
export function byteSize(opts: { readonly min?: number } = {}) {
  return numberOrText(BYTE_SIZE)
    .transform(viaParsed(readBytes, BYTE_SIZE.allowed))
    .superRefine((bytes, ctx) => {
      if (opts.min !== undefined && bytes < opts.min) refuse(ctx, `${formatBytes(bytes)} is below ${formatBytes(opts.min)}`, { allowed: `${formatBytes(opts.min)} or more` });
    });
}

/** A TCP port as a number in a document. */
export function port(opts: PortOptions = {}) {
  return hint(z.int().min(opts.allowZero ? 0 : 1).max(65535), { what: PORT.what, allowed: portAllowed(opts) });
}
