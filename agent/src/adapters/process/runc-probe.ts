import { readFile } from "node:fs/promises";
import { gunzip } from "node:zlib";
import { promisify } from "node:util";
import { describeExit, processMessage, runProcess, type RunProcess } from "./run-process.js";

const VERSION_TIMEOUT_MS = 5_000;
/** Where Debian and Ubuntu keep the package changelog that names backported CVE fixes. */
export const RUNC_CHANGELOGS = ["/usr/share/doc/runc/changelog.Debian.gz", "/usr/share/doc/runc/changelog.gz"];
/** A changelog is tens of KiB; more is not one. */
const CHANGELOG_MAX_BYTES = 4 * 1024 * 1024;

export interface RuncFacts {
  /** `runc --version` output. */
  readonly versionOutput: string;
  /** The package changelog, or null where the distribution has none. */
  readonly changelog: string | null;
}

async function readChangelog(paths: readonly string[]): Promise<string | null> {
  for (const path of paths) {
    const data = await readFile(path).catch(() => null);
    if (data === null || data.length > CHANGELOG_MAX_BYTES) continue;
    const text = path.endsWith(".gz") ? await promisify(gunzip)(data, { maxOutputLength: CHANGELOG_MAX_BYTES }).catch(() => null) : data;
    if (text !== null) return text.toString("utf8");
  }
  return null;
}

/** What the runc advisories check needs from the host (the engine's runc, found on sbin's PATH). */
export async function probeRunc(opts: { readonly run?: RunProcess; readonly binary?: string; readonly changelogs?: readonly string[] } = {}): Promise<RuncFacts> {
  const r = await (opts.run ?? runProcess)(opts.binary ?? "runc", ["--version"], { timeoutMs: VERSION_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`runc --version: ${describeExit(r, VERSION_TIMEOUT_MS)}: ${processMessage(r)}`);
  return { versionOutput: r.stdout, changelog: await readChangelog(opts.changelogs ?? RUNC_CHANGELOGS) };
}
