import { posix } from "node:path";
import { describeError, InputError } from "../errors.js";
import { bundledBaseFile, bundledBaseText, isBundledBase } from "./bundled-bases.js";
import { EMPTY_PODFILE, mergeLayer } from "./merge.js";
import { fieldError, parsePodfile, type ParsedPodfile, type ParseOptions } from "./parse.js";
import type { ResolvedPodfile } from "./resolved-podfile.js";

/**
 * Follows a Podfile's `extends` chain and merges it, root first. Reading files is the caller's:
 * the loader is injected, so this stays pure and the daemon, the CLI and the tests each read
 * the way they must (size caps, allowed roots).
 */

/** A Podfile file's text, and the name it is known by (its canonical path: cycles are found by it). */
export interface LoadedPodfile {
  readonly text: string;
  readonly file: string;
}

/**
 * Reads the local Podfile `ref` (as written after `extends:`, relative or absolute, ending in
 * .yaml/.yml) for a Podfile in `fromDir`. `localPodfilePath(ref, fromDir)` is the path it means.
 * Throw InputError for a file that is missing, unreadable or not allowed; anything else thrown
 * is reported as "cannot read".
 */
export type PodfileLoader = (ref: string, fromDir: string) => Promise<LoadedPodfile>;

export interface ResolveOptions extends ParseOptions {
  readonly load: PodfileLoader;
  /** The image the bundled bases (minimal, ubuntu-dev, data-science) are built on. */
  readonly bundledBaseImage: string;
}

export interface Resolution {
  readonly podfile: ResolvedPodfile;
  /** The files merged, the Podfile itself first, then what it extends, and so on. */
  readonly chain: readonly string[];
}

/** At most this many `extends` hops above the Podfile itself. */
export const MAX_EXTENDS_DEPTH = 10;

export function localPodfilePath(ref: string, fromDir: string): string {
  return posix.resolve(fromDir, ref);
}

async function loadParent(child: ParsedPodfile, ref: string, opts: ResolveOptions): Promise<ParsedPodfile> {
  if (isBundledBase(ref)) return parsePodfile(bundledBaseText(ref, opts.bundledBaseImage), bundledBaseFile(ref), opts);
  let loaded: LoadedPodfile;
  try {
    loaded = await opts.load(ref, posix.dirname(child.file));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw fieldError(child, ["extends"], `cannot read ${JSON.stringify(ref)}: ${describeError(err)}`);
  }
  return parsePodfile(loaded.text, loaded.file, opts);
}

/** The Podfile in `text` with everything it extends, merged; errors name the file and line at fault. */
export async function resolvePodfile(text: string, file: string, opts: ResolveOptions): Promise<Resolution> {
  const chain: ParsedPodfile[] = [parsePodfile(text, file, opts)];
  for (let layer = chain[0]; layer?.layer.extends !== undefined; layer = chain[chain.length - 1]) {
    const ref = layer.layer.extends;
    if (chain.length > MAX_EXTENDS_DEPTH) throw fieldError(layer, ["extends"], `goes deeper than ${MAX_EXTENDS_DEPTH} levels of extends`, `at most ${MAX_EXTENDS_DEPTH} levels`);
    const parent = await loadParent(layer, ref, opts);
    const seen = chain.findIndex((c) => c.file === parent.file);
    if (seen >= 0) {
      const loop = [...chain.slice(seen).map((c) => c.file), parent.file].join(" -> ");
      throw fieldError(layer, ["extends"], `${JSON.stringify(ref)} leads back to a Podfile already in the chain: ${loop}`, "a chain without cycles");
    }
    chain.push(parent);
  }
  const podfile = [...chain].reverse().reduce((merged, p) => mergeLayer(merged, p.layer), EMPTY_PODFILE);
  return { podfile, chain: chain.map((c) => c.file) };
}
