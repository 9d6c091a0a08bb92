import { createHash } from "node:crypto";
import { open, readFile, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { describeError, InputError, UserFacingError } from "../../core/errors.js";
import { formatFleetManifest, validateFleetManifest, type FleetManifest } from "../../core/fleet/fleet-manifest.js";
import { ensureDir, ensureFile } from "../fs/atomic-file.js";
import { readCappedText } from "../http/capped-body.js";

/**
 * Loads the fleet manifest for the client from a file or an http(s) URL. A URL's last good copy is
 * cached, so a fetch failure (network down, server error, a bad manifest published) does not block
 * connecting: the cached copy is used and the caller is told once. A file has no cache: it is
 * already local, and a missing file is a setup mistake worth seeing.
 */

export const MAX_MANIFEST_BYTES = 1024 * 1024;
export const MANIFEST_TIMEOUT_MS = 5000;

export type Fetch = (url: string, init: { signal: AbortSignal; redirect: "manual"; headers: Record<string, string> }) => Promise<Response>;

/** Redirects followed per fetch (each one checked, see redirectTarget). */
export const MAX_REDIRECTS = 5;

export interface ManifestLoaderDeps {
  /** @default globalThis.fetch */
  readonly fetch?: Fetch;
  /** Where URL manifests are cached; null disables the cache. */
  readonly cacheDir: string | null;
  /** One line for the user (stderr). */
  readonly warn: (line: string) => void;
  /** For the whole fetch including the body. @default 5 s */
  readonly timeoutMs?: number;
  /** @default 1 MiB */
  readonly maxBytes?: number;
}

export interface LoadedManifest {
  readonly manifest: FleetManifest;
  readonly source: string;
  /** `not-modified`: the server answered 304 to the cached copy's ETag. */
  readonly from: "file" | "url" | "cache" | "not-modified";
}

export type ManifestSource = { readonly kind: "url"; readonly url: URL } | { readonly kind: "file"; readonly path: string };

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * `http(s)://...` is a URL, anything else a file path (resolved against `cwd`). Plain http is
 * refused except to loopback: the manifest pins the fleet's host keys, and anyone on the path of
 * an http fetch could substitute their own.
 */
export function parseManifestSource(source: string, cwd = process.cwd()): ManifestSource {
  if (source.trim() === "") throw new InputError("--manifest", "is empty", "a file path or an https:// URL");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw new InputError("--manifest", `${JSON.stringify(source)} is not a valid URL`, "a file path or an https:// URL");
    }
    if (url.protocol === "https:") return { kind: "url", url };
    if (url.protocol === "http:" && isLoopback(url.hostname)) return { kind: "url", url };
    if (url.protocol === "http:") throw new InputError("--manifest", `${JSON.stringify(source)} uses plain http; the manifest pins host keys, so it must not travel unprotected`, "https://, or http:// to a loopback address");
    throw new InputError("--manifest", `${JSON.stringify(source)}: unsupported scheme ${url.protocol}`, "a file path or an https:// URL");
  }
  return { kind: "file", path: resolve(cwd, source) };
}

/**
 * Where a redirect from `from` may go: https, or plain http only from plain http to loopback
 * (tests). A redirect from https to http would hand the host keys to whoever sits on the path,
 * so it is refused outright, whatever the address.
 */
export function redirectTarget(from: URL, location: string | null): URL {
  if (!location) throw new Error(`redirect from ${from.href} without a Location`);
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw new Error(`redirect from ${from.href} to an invalid URL`);
  }
  if (to.protocol === "https:") return to;
  if (to.protocol === "http:" && from.protocol === "http:" && isLoopback(from.hostname) && isLoopback(to.hostname)) return to;
  throw new Error(`refused a redirect from ${from.href} to ${to.href}: the manifest pins host keys and must stay on https`);
}

/** `$PODSPAWN_MANIFEST`, else `$XDG_CONFIG_HOME/podspawn/manifest.json` (`~/.config/...`). */
export function defaultManifestSource(env: NodeJS.ProcessEnv): string {
  if (env["PODSPAWN_MANIFEST"]) return env["PODSPAWN_MANIFEST"];
  const config = env["XDG_CONFIG_HOME"] || join(env["HOME"] || homedir(), ".config");
  return join(config, "podspawn", "manifest.json");
}

/** `$XDG_CACHE_HOME/podspawn` (`~/.cache/podspawn`). */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  return join(env["XDG_CACHE_HOME"] || join(env["HOME"] || homedir(), ".cache"), "podspawn");
}

/** One cache file per URL, named by its hash (the URL itself may hold anything). */
export function cacheFile(cacheDir: string, url: URL): string {
  return join(cacheDir, `manifest-${createHash("sha256").update(url.href).digest("hex").slice(0, 16)}.json`);
}

/** Parses manifest text; errors name where it came from and the JSON path of the problem. */
export function parseManifestText(text: string, origin: string): FleetManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(origin, `is not valid JSON: ${describeError(err)}`, "a fleet manifest (docs/schemas/fleet-manifest.schema.json)");
  }
  try {
    return validateFleetManifest(value);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${origin}: ${err.field}`, err.problem, err.allowed);
    throw err;
  }
}

async function readCapped(path: string, maxBytes: number): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new InputError("--manifest", `cannot read ${path}: ${describeError(err)}`, "a readable fleet manifest file (or set PODSPAWN_MANIFEST)");
  }
  if (size > maxBytes) throw new InputError(path, `is ${size} bytes, more than the ${maxBytes}-byte limit for a manifest`);
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(maxBytes + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > maxBytes) throw new InputError(path, `is more than the ${maxBytes}-byte limit for a manifest`);
    return buf.subarray(0, bytesRead).toString("utf8");
  } finally {
    await fh.close();
  }
}

type Fetched = { readonly text: string; readonly etag: string | null } | { readonly notModified: true };

const REDIRECT = new Set([301, 302, 303, 307, 308]);

/** One GET after another along checked redirects; a 304 to `etag` means the cached copy stands. */
async function getFollowing(url: URL, fetchFn: Fetch, signal: AbortSignal, etag: string | null, maxBytes: number): Promise<Fetched> {
  let at = url;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { accept: "application/json", ...(etag ? { "if-none-match": etag } : {}) };
    const res = await fetchFn(at.href, { signal, redirect: "manual", headers });
    if (REDIRECT.has(res.status)) {
      await res.body?.cancel().catch(() => undefined);
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
      at = redirectTarget(at, res.headers.get("location"));
      continue;
    }
    if (res.status === 304 && etag) {
      await res.body?.cancel().catch(() => undefined);
      return { notModified: true };
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
    }
    return { text: await readCappedText(res, maxBytes), etag: res.headers.get("etag") };
  }
}

/** GET `url` with a deadline over the whole exchange (redirects and body included); the timer wins even if `fetch` ignores the signal. */
async function fetchText(url: URL, fetchFn: Fetch, timeoutMs: number, maxBytes: number, etag: string | null): Promise<Fetched> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    const work = getFollowing(url, fetchFn, controller.signal, etag, maxBytes);
    work.catch(() => undefined); // a late rejection after the deadline must not go unhandled
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readCache(file: string, maxBytes: number): Promise<{ manifest: FleetManifest; mtime: Date } | null> {
  try {
    const mtime = (await stat(file)).mtime;
    return { manifest: parseManifestText(await readCapped(file, maxBytes), file), mtime };
  } catch {
    return null;
  }
}

/** The ETag the cached copy was served with, kept beside it. */
const etagFile = (cache: string): string => cache.replace(/\.json$/, ".etag");

async function readEtag(cache: string): Promise<string | null> {
  const text = await readFile(etagFile(cache), "utf8").catch(() => "");
  const tag = text.trim();
  // An ETag is a quoted string (optionally W/); anything else is not sent back to the server.
  return /^(W\/)?"[\x21\x23-\x7e]{0,200}"$/.test(tag) ? tag : null;
}

async function writeCache(cacheDir: string, file: string, manifest: FleetManifest, etag: string | null): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  await ensureDir(cacheDir, { mode: 0o700, uid, gid });
  await ensureFile(file, formatFleetManifest(manifest), { mode: 0o600, uid, gid });
  if (etag) await ensureFile(etagFile(file), `${etag}\n`, { mode: 0o600, uid, gid });
  else await rm(etagFile(file), { force: true });
}

export async function loadManifest(source: string, deps: ManifestLoaderDeps): Promise<LoadedManifest> {
  const maxBytes = deps.maxBytes ?? MAX_MANIFEST_BYTES;
  const parsed = parseManifestSource(source);
  if (parsed.kind === "file") {
    return { manifest: parseManifestText(await readCapped(parsed.path, maxBytes), parsed.path), source: parsed.path, from: "file" };
  }
  const url = parsed.url;
  const cache = deps.cacheDir === null ? null : cacheFile(deps.cacheDir, url);
  let manifest: FleetManifest;
  let etag: string | null = null;
  try {
    const cachedTag = cache === null ? null : await readEtag(cache);
    const fetched = await fetchText(url, deps.fetch ?? globalThis.fetch, deps.timeoutMs ?? MANIFEST_TIMEOUT_MS, maxBytes, cachedTag);
    if ("notModified" in fetched) {
      const cached = cache === null ? null : await readCache(cache, maxBytes);
      if (cached) return { manifest: cached.manifest, source: url.href, from: "not-modified" };
      // The ETag outlived its copy: ask again for the body.
      const again = await fetchText(url, deps.fetch ?? globalThis.fetch, deps.timeoutMs ?? MANIFEST_TIMEOUT_MS, maxBytes, null);
      if ("notModified" in again) throw new Error("HTTP 304 without a cached copy");
      manifest = parseManifestText(again.text, "manifest");
      etag = again.etag;
    } else {
      manifest = parseManifestText(fetched.text, "manifest");
      etag = fetched.etag;
    }
  } catch (err) {
    const reason = describeError(err);
    const cached = cache === null ? null : await readCache(cache, maxBytes);
    if (cached) {
      deps.warn(`warning: cannot load the fleet manifest from ${url.href} (${reason}); using the cached copy from ${cached.mtime.toISOString()}`);
      return { manifest: cached.manifest, source: url.href, from: "cache" };
    }
    throw new UserFacingError("manifest-unavailable", `cannot load the fleet manifest from ${url.href}: ${reason}${cache === null ? "" : " (and no cached copy)"}`);
  }
  if (deps.cacheDir !== null && cache !== null) {
    await writeCache(deps.cacheDir, cache, manifest, etag).catch((err: unknown) => deps.warn(`warning: cannot cache the fleet manifest in ${deps.cacheDir}: ${describeError(err)}`));
  }
  return { manifest, source: url.href, from: "url" };
}
