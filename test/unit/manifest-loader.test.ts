import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cacheFile, defaultCacheDir, defaultManifestSource, loadManifest, parseManifestSource, type Fetch } from "../../agent/src/adapters/fleet/manifest-loader.js";
import { InputError, UserFacingError } from "../../agent/src/core/errors.js";
import { freshEd25519 } from "./helpers/test-keys.js";

const key = freshEd25519().split(" ").slice(0, 2).join(" ");
const good = { version: 1, fleet: "dev", domain: "pod", nodes: [{ name: "fa", address: "127.0.0.2", port: 2240, hostKeys: [key] }] };
const URL_ = "https://fleet.example/manifest.json";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "podspawn-manifest-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const respond = (body: string, init: ResponseInit = {}): Fetch => async () => new Response(body, init);
const never: Fetch = () => new Promise(() => undefined);

function deps(fetch: Fetch, cacheDir: string | null, timeoutMs = 5000) {
  const warnings: string[] = [];
  return { warnings, deps: { fetch, cacheDir, timeoutMs, warn: (l: string) => void warnings.push(l) } };
}

describe("manifest sources", () => {
  it("tells URLs from file paths and resolves relative paths", () => {
    assert.deepEqual(parseManifestSource("m.json", "/srv"), { kind: "file", path: "/srv/m.json" });
    assert.equal(parseManifestSource(URL_).kind, "url");
    assert.equal(parseManifestSource("http://127.0.0.1:8080/m.json").kind, "url");
  });

  it("refuses plain http to anything but loopback (the manifest pins host keys)", () => {
    assert.throws(() => parseManifestSource("http://fleet.example/m.json"), (e: unknown) => e instanceof InputError && /plain http/.test(e.message));
    assert.throws(() => parseManifestSource("ftp://fleet.example/m.json"), /unsupported scheme ftp:/);
  });

  it("defaults to $PODSPAWN_MANIFEST, else ~/.config/podspawn/manifest.json; caches in ~/.cache/podspawn", () => {
    assert.equal(defaultManifestSource({ PODSPAWN_MANIFEST: URL_, HOME: "/home/al" }), URL_);
    assert.equal(defaultManifestSource({ HOME: "/home/al" }), "/home/al/.config/podspawn/manifest.json");
    assert.equal(defaultCacheDir({ HOME: "/home/al" }), "/home/al/.cache/podspawn");
    assert.equal(defaultCacheDir({ HOME: "/home/al", XDG_CACHE_HOME: "/c" }), "/c/podspawn");
  });
});

describe("loadManifest from a file", () => {
  it("loads and validates it", async () => {
    const file = join(dir, "good.json");
    await writeFile(file, JSON.stringify(good));
    const r = await loadManifest(file, deps(never, null).deps);
    assert.equal(r.from, "file");
    assert.equal(r.manifest.nodes[0]?.name, "fa");
  });

  it("names the file when it is not JSON", async () => {
    const file = join(dir, "bad.json");
    await writeFile(file, "{ nope");
    await assert.rejects(loadManifest(file, deps(never, null).deps), (e: unknown) => e instanceof InputError && e.field === file && /not valid JSON/.test(e.message));
  });

  it("names the file and the JSON path of a schema violation", async () => {
    const file = join(dir, "schema.json");
    await writeFile(file, JSON.stringify({ ...good, nodes: [{ ...good.nodes[0], port: "22" }] }));
    await assert.rejects(loadManifest(file, deps(never, null).deps), (e: unknown) => e instanceof InputError && e.field === `${file}: nodes[0].port` && /expected a port, got "22" \(allowed: 1-65535\)/.test(e.message));
  });

  it("refuses a file over the size limit", async () => {
    const file = join(dir, "big.json");
    await writeFile(file, " ".repeat(2048) + JSON.stringify(good));
    await assert.rejects(loadManifest(file, { ...deps(never, null).deps, maxBytes: 1024 }), /more than the 1024-byte limit/);
  });

  it("says which file it could not read", async () => {
    await assert.rejects(loadManifest(join(dir, "missing.json"), deps(never, null).deps), /cannot read .*missing\.json/);
  });
});

describe("loadManifest from a URL", () => {
  it("fetches, validates and caches the manifest (cache dir 0700, file 0600)", async () => {
    const cacheDir = join(dir, "cache-ok");
    const { deps: d, warnings } = deps(respond(JSON.stringify(good)), cacheDir);
    const r = await loadManifest(URL_, d);
    assert.equal(r.from, "url");
    assert.deepEqual(warnings, []);
    const file = cacheFile(cacheDir, new URL(URL_));
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")), good);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(cacheDir)).mode & 0o777, 0o700);
  });

  async function primedCache(name: string): Promise<string> {
    const cacheDir = join(dir, name);
    await loadManifest(URL_, deps(respond(JSON.stringify(good)), cacheDir).deps);
    return cacheDir;
  }

  const failures: [string, Fetch, RegExp][] = [
    ["bad JSON", respond("{ nope"), /manifest: is not valid JSON/],
    ["a schema violation (naming the path)", respond(JSON.stringify({ ...good, nodes: [{ ...good.nodes[0], hostKeys: ["ssh-ed25519 AAAA"] }] })), /nodes\[0\]\.hostKeys\[0\]/],
    ["an HTTP error", respond("gone", { status: 503, statusText: "Service Unavailable" }), /HTTP 503 Service Unavailable/],
    ["a body over 1 MiB (declared)", respond("x".repeat(1024 * 1024 + 1)), /more than the 1048576-byte limit/],
    [
      "a body over 1 MiB (streamed, no length)",
      async () => new Response(new ReadableStream({ start(c) { for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(300 * 1024)); c.close(); } })),
      /more than the 1048576-byte limit/,
    ],
    ["a network error", async () => { throw new TypeError("fetch failed"); }, /fetch failed/],
  ];
  for (const [what, fetch, reason] of failures) {
    it(`fails on ${what} when nothing is cached, saying why`, async () => {
      await assert.rejects(loadManifest(URL_, deps(fetch, join(dir, "empty-cache")).deps), (e: unknown) => e instanceof UserFacingError && reason.test(e.message) && e.message.includes(URL_));
    });
    it(`uses the cached copy on ${what}, and says so once`, async () => {
      const cacheDir = await primedCache(`cache-${what.replace(/\W+/g, "-")}`);
      const { deps: d, warnings } = deps(fetch, cacheDir);
      const r = await loadManifest(URL_, d);
      assert.equal(r.from, "cache");
      assert.deepEqual(r.manifest, good);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, reason);
      assert.match(warnings[0]!, /using the cached copy from \d{4}-/);
    });
  }

  it("gives up at the timeout, not before, even when fetch ignores the abort signal, and uses the cache", { timeout: 5000 }, async (t) => {
    const cacheDir = await primedCache("cache-timeout");
    t.mock.timers.enable({ apis: ["setTimeout"] });
    let signal!: AbortSignal;
    let fetching!: () => void;
    const fetchStarted = new Promise<void>((resolve) => (fetching = resolve));
    const ignoresAbort: Fetch = (_url, init) => ((signal = init.signal), fetching(), new Promise(() => undefined));
    const { deps: d, warnings } = deps(ignoresAbort, cacheDir, 50);
    const loading = loadManifest(URL_, d);
    await fetchStarted;
    t.mock.timers.tick(49);
    assert.equal(signal.aborted, false, "still waiting 1 ms before the timeout");
    assert.deepEqual(warnings, []);
    t.mock.timers.tick(1);
    assert.equal(signal.aborted, true);
    const r = await loading;
    assert.equal(r.from, "cache");
    assert.deepEqual(r.manifest, good);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /no answer within 50 ms/);
  });

  it("aborts the request at the timeout", { timeout: 5000 }, async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    let signal!: AbortSignal;
    let fetching!: () => void;
    const fetchStarted = new Promise<void>((resolve) => (fetching = resolve));
    const listening: Fetch = (_url, init) => {
      signal = init.signal;
      fetching();
      return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new Error("aborted"))));
    };
    const loading = loadManifest(URL_, deps(listening, null, 30).deps);
    await fetchStarted;
    t.mock.timers.tick(29);
    assert.equal(signal.aborted, false, "not aborted 1 ms before the timeout");
    t.mock.timers.tick(1);
    assert.equal(signal.aborted, true);
    await assert.rejects(loading, /no answer within 30 ms/);
  });

  it("keeps the last good copy when a bad one is published", async () => {
    const cacheDir = await primedCache("cache-keep");
    await loadManifest(URL_, deps(respond("{ nope"), cacheDir).deps);
    const files = await readdir(cacheDir);
    assert.equal(files.length, 1);
    assert.deepEqual(JSON.parse(await readFile(join(cacheDir, files[0]!), "utf8")), good);
  });
});

describe("manifest over https: redirects and ETags", () => {
  /** A scripted server: each URL answers with the given response, and every request is recorded. */
  function scripted(routes: Record<string, () => Response>): { fetch: Fetch; seen: { url: string; ifNoneMatch: string | undefined }[] } {
    const seen: { url: string; ifNoneMatch: string | undefined }[] = [];
    return {
      seen,
      fetch: async (url, init) => {
        seen.push({ url, ifNoneMatch: init.headers["if-none-match"] });
        assert.equal(init.redirect, "manual", "redirects are followed by us, each one checked");
        const route = routes[url];
        return route ? route() : new Response("no", { status: 404 });
      },
    };
  }
  const redirect = (location: string, status = 302) => () => new Response(null, { status, headers: { location } });
  const ok = (etag?: string) => () => new Response(JSON.stringify(good), { status: 200, headers: etag ? { etag } : {} });

  it("follows https redirects to https", async () => {
    const s = scripted({ [URL_]: redirect("https://cdn.example/m.json", 301), "https://cdn.example/m.json": ok() });
    const r = await loadManifest(URL_, deps(s.fetch, null).deps);
    assert.deepEqual(r.manifest, good);
    assert.deepEqual(s.seen.map((x) => x.url), [URL_, "https://cdn.example/m.json"]);
  });

  it("refuses a redirect from https to http, even to loopback, and falls back to the cache saying why", async () => {
    for (const to of ["http://cdn.example/m.json", "http://127.0.0.1/m.json"]) {
      const s = scripted({ [URL_]: redirect(to), [to]: ok() });
      await assert.rejects(loadManifest(URL_, deps(s.fetch, join(dir, "no-cache-redirect")).deps), new RegExp(`refused a redirect from ${URL_.replace(/\./g, "\\.")} to ${to.replace(/\./g, "\\.")}: the manifest pins host keys and must stay on https`));
      assert.deepEqual(s.seen.map((x) => x.url), [URL_], "the http URL was never fetched");
    }
    const cacheDir = await primedCacheAt("cache-redirect");
    const s = scripted({ [URL_]: redirect("http://evil.example/m.json") });
    const { deps: d, warnings } = deps(s.fetch, cacheDir);
    assert.equal((await loadManifest(URL_, d)).from, "cache");
    assert.match(warnings[0] ?? "", /refused a redirect/);
  });

  it("gives up after too many redirects", async () => {
    const s = scripted({ [URL_]: redirect(URL_) });
    await assert.rejects(loadManifest(URL_, deps(s.fetch, null).deps), /more than 5 redirects/);
    assert.equal(s.seen.length, 6);
  });

  it("revalidates the cached copy with its ETag and keeps it on 304", async () => {
    const cacheDir = join(dir, "cache-etag");
    const first = scripted({ [URL_]: ok('"v1"') });
    assert.equal((await loadManifest(URL_, deps(first.fetch, cacheDir).deps)).from, "url");
    assert.equal(first.seen[0]?.ifNoneMatch, undefined);
    const second = scripted({ [URL_]: () => new Response(null, { status: 304 }) });
    const r = await loadManifest(URL_, deps(second.fetch, cacheDir).deps);
    assert.equal(r.from, "not-modified");
    assert.deepEqual(r.manifest, good);
    assert.equal(second.seen[0]?.ifNoneMatch, '"v1"');
  });

  it("never sends back an ETag that is not a quoted string", async () => {
    const cacheDir = join(dir, "cache-bad-etag");
    await loadManifest(URL_, deps(scripted({ [URL_]: ok("v1\r\nX-Evil: 1") }).fetch, cacheDir).deps).catch(() => undefined);
    await loadManifest(URL_, deps(scripted({ [URL_]: ok("unquoted") }).fetch, cacheDir).deps);
    const s = scripted({ [URL_]: ok() });
    await loadManifest(URL_, deps(s.fetch, cacheDir).deps);
    assert.equal(s.seen[0]?.ifNoneMatch, undefined);
  });

  async function primedCacheAt(name: string): Promise<string> {
    const cacheDir = join(dir, name);
    await loadManifest(URL_, deps(respond(JSON.stringify(good)), cacheDir).deps);
    return cacheDir;
  }
});
