/**
 * Builds podspawn's images without a registry (nothing can be pulled on these machines):
 *
 *   podspawn/base:<suite>         debootstrap --variant=minbase, trimmed, `docker import`ed.
 *                                 The trimmed rootfs tarball is cached in /var/cache/podspawn/.
 *   podspawn/default:bookworm     the default environment, podfiles/default/podfile.yaml: a
 *                                 Podfile over the base, compiled and built by the same code the
 *                                 daemon uses for a project's first login (core/podfile's
 *                                 compiler, daemon/projects/image-builds, the Engine API's
 *                                 classic /build: the engine is 20.10 and BuildKit is absent).
 *   podspawn/postgres:15-bookworm the postgres service image of the examples,
 *                                 podfiles/services/postgres/ (a Dockerfile over the base).
 *   podspawn/busybox:test         FROM scratch + the host's static busybox: an image without bash
 *                                 or sftp-server, for tests.
 *
 * Every image also gets a content tag: `<repo>:podfile-<12 hex of its compiled Dockerfile>` for a
 * Podfile (whose base is pinned to the base's own content tag, so a new rootfs rebuilds it), and
 * `<repo>:<12 hex of its inputs>` (recipe, base, context files) for a Dockerfile context. If that
 * tag exists the build is skipped ("image up to date"), so re-runs and CI cost seconds while an
 * edited Podfile or Dockerfile rebuilds.
 *
 * Usage: node dist/scripts/build-image.js [--force] [--refresh-base] [--only default|postgres|busybox]
 *          [--tag T] [--default-context DIR] [--postgres-tag T] [--postgres-context DIR]
 *          [--busybox-tag T] [--busybox-context DIR]
 * A --default-context DIR with a podfile.yaml is built as a Podfile, one with a Dockerfile as a
 * Dockerfile context (BASE_IMAGE set to the base).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { $, type ProcessOutput, type ProcessPromise } from "zx/core";
import { DockerImageBuilder } from "../agent/src/adapters/docker/docker-image-builder.js";
import { hostLoader } from "../agent/src/adapters/fs/podfile-files.js";
import { UserFacingError } from "../agent/src/core/errors.js";
import { compileDockerfile, dockerfileDigest, PODFILE_TAG_PREFIX, resolvePodfile } from "../agent/src/core/podfile/index.js";
import type { BuildContextFile } from "../agent/src/core/ports/image-builder.js";
import { ImageBuilds, type ImageRequest } from "../agent/src/daemon/projects/image-builds.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Bump when the debootstrap/trim steps change: it renames the cached tarball, forcing a new base. */
const BASE_RECIPE = "r1";
/** Bump when the way Dockerfile contexts are built on top of the base changes (build args, labels). */
const BUILD_RECIPE = "b2";
/** The longest one image build may take here (the postgres image is ~40 s, a cold default ~30 s). */
const BUILD_TIMEOUT_MS = 30 * 60_000;

export interface BuildOptions {
  /** Rebuild images even when their content tag exists (the cached rootfs is still reused). */
  readonly force: boolean;
  /** Throw the cached rootfs away and debootstrap again. */
  readonly refreshBase: boolean;
  readonly only: "default" | "postgres" | "busybox" | "all";
  readonly defaultTag: string;
  readonly postgresTag: string;
  readonly busyboxTag: string;
  /** A directory with a podfile.yaml (built as a Podfile) or a Dockerfile. */
  readonly defaultContext: string;
  readonly postgresContext: string;
  readonly busyboxContext: string;
  readonly cacheDir: string;
  readonly suite: string;
  readonly mirror: string;
  /** Progress lines (stderr by default). */
  readonly log: (line: string) => void;
}

export const DEFAULT_BUILD_OPTIONS: BuildOptions = {
  force: false,
  refreshBase: false,
  only: "all",
  defaultTag: "podspawn/default:bookworm",
  postgresTag: "podspawn/postgres:15-bookworm",
  busyboxTag: "podspawn/busybox:test",
  defaultContext: join(REPO_ROOT, "podfiles", "default"),
  postgresContext: join(REPO_ROOT, "podfiles", "services", "postgres"),
  busyboxContext: join(REPO_ROOT, "podfiles", "busybox-test"),
  cacheDir: "/var/cache/podspawn",
  suite: "bookworm",
  mirror: "http://deb.debian.org/debian",
  log: (line) => process.stderr.write(`${line}\n`),
};

export interface ImageResult {
  readonly image: string;
  readonly contentTag: string;
  readonly built: boolean;
  readonly ms: number;
  /** Per-step durations, for the timing report. */
  readonly steps: Readonly<Record<string, number>>;
}

/** Probes and clean-up: the output is ours to read, a non-zero exit is an answer, not an error. */
const sh = $({ quiet: true, nothrow: true });

/** Awaits a step that must succeed; on failure throws the command and the tail of its output. */
async function must(p: ProcessPromise): Promise<ProcessOutput> {
  const r = await p;
  if (r.exitCode !== 0) {
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-30).join("\n");
    throw new Error(`${p.cmd} exited ${r.exitCode ?? r.signal}\n${tail}`);
  }
  return r;
}

async function imageId(ref: string): Promise<string | undefined> {
  const r = await sh`docker image inspect --format ${"{{.Id}}"} ${ref}`;
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

async function imageLabel(ref: string, label: string): Promise<string | undefined> {
  const r = await sh`docker image inspect --format ${`{{index .Config.Labels ${JSON.stringify(label)}}}`} ${ref}`;
  const v = r.stdout.trim();
  return r.exitCode === 0 && v !== "" && v !== "<no value>" ? v : undefined;
}

function repoOf(tag: string): string {
  // A registry host may carry a port (`host:5000/x:tag`): the tag separator is the last colon after the last slash.
  const slash = tag.lastIndexOf("/");
  const colon = tag.lastIndexOf(":");
  return colon > slash ? tag.slice(0, colon) : tag;
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Hash of a build context: every file's relative path, executable bit and content. README.md is
 * left out so documentation edits do not rebuild images.
 */
export async function hashContext(dir: string, extra: Readonly<Record<string, string>> = {}): Promise<string> {
  const entries: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isDirectory()) await walk(p);
      else if (rel !== "README.md") {
        const exec = ((await stat(p)).mode & 0o111) !== 0;
        entries.push(`${rel}\0${exec ? "x" : "-"}\0${sha256(await readFile(p))}`);
      }
    }
  }
  await walk(dir);
  for (const [k, v] of Object.entries(extra).sort()) entries.push(`extra:${k}\0${v}`);
  return sha256(entries.join("\n"));
}

/** Timed step: records its duration and logs it, so cold and warm runs can be compared. */
async function step<T>(steps: Record<string, number>, name: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const value = await fn();
  const ms = Math.round(performance.now() - t0);
  steps[name] = ms;
  log(`build-image: ${name} ${(ms / 1000).toFixed(1)} s`);
  return value;
}

// ---- base rootfs ------------------------------------------------------------------------------

const DPKG_NODOC = `# Written by podspawn build-image: keep docs, man pages and translations out of the image.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
`;

const APT_CONTAINER = `// Written by podspawn build-image: small images, no caches left behind by apt.
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
`;

function sourcesList(suite: string, mirror: string): string {
  // Security updates come from the same host (deb.debian.org serves debian-security), which is
  // the only mirror reachable here.
  const security = mirror.replace(/\/debian\/?$/, "/debian-security");
  return `deb ${mirror} ${suite} main\ndeb ${mirror} ${suite}-updates main\ndeb ${security} ${suite}-security main\n`;
}

/** Unmounts anything a failed debootstrap left mounted under `dir` (proc, sys), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await sh`umount -l ${m}`;
}

async function removeTree(dir: string): Promise<void> {
  await unmountUnder(dir);
  // --one-file-system: never follow a leftover mount point out of the work dir.
  await sh`rm -rf --one-file-system ${dir}`;
}

/** Trims the rootfs to what a container needs: no apt lists, docs, locales, logs or host identity. */
async function trimRootfs(root: string, suite: string, mirror: string): Promise<void> {
  for (const sub of ["var/lib/apt/lists", "var/cache/apt", "usr/share/man", "usr/share/info", "usr/share/lintian", "var/cache/debconf"]) {
    await sh`find ${join(root, sub)} -mindepth 1 -not -name config.dat -not -name templates.dat -not -name passwords.dat -delete`;
  }
  await sh`find ${join(root, "usr/share/locale")} -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +`;
  await sh`find ${join(root, "usr/share/doc")} -mindepth 1 -not -type d -not -name copyright -delete`;
  await sh`find ${join(root, "usr/share/doc")} -mindepth 1 -type d -empty -delete`;
  await sh`find ${join(root, "var/log")} -type f -delete`;
  await mkdir(join(root, "var/lib/apt/lists/partial"), { recursive: true });
  await mkdir(join(root, "var/cache/apt/archives/partial"), { recursive: true });
  await writeFile(join(root, "etc/dpkg/dpkg.cfg.d/podspawn-nodoc"), DPKG_NODOC);
  await writeFile(join(root, "etc/apt/apt.conf.d/podspawn-container"), APT_CONTAINER);
  await writeFile(join(root, "etc/apt/sources.list"), sourcesList(suite, mirror));
  // debootstrap copies the build host's hostname and resolv.conf; Docker provides both at run time.
  for (const f of ["etc/hostname", "etc/resolv.conf", "etc/machine-id"]) await writeFile(join(root, f), "").catch(() => undefined);
}

interface BaseRootfs {
  readonly tarball: string;
  readonly sha: string;
}

/** The cached trimmed rootfs tarball, created with debootstrap when missing (or when refreshing). */
async function ensureRootfs(o: BuildOptions, steps: Record<string, number>): Promise<BaseRootfs> {
  const tarball = join(o.cacheDir, `rootfs-${o.suite}-minbase-${BASE_RECIPE}.tar`);
  const shaFile = `${tarball}.sha256`;
  if (!o.refreshBase) {
    const cached = await readFile(shaFile, "utf8").catch(() => undefined);
    if (cached && (await stat(tarball).catch(() => undefined))) return { tarball, sha: cached.trim() };
  }
  await mkdir(o.cacheDir, { recursive: true, mode: 0o755 });
  // A private work dir per run, renamed into place at the end: concurrent runs cannot corrupt the cache.
  const work = await mkdtemp(join(o.cacheDir, "work-"));
  try {
    const root = join(work, "rootfs");
    await step(steps, "debootstrap", o.log, () =>
      must(sh`debootstrap --variant=minbase ${o.suite} ${root} ${o.mirror}`).then(() => undefined),
    );
    await step(steps, "trim + tar", o.log, async () => {
      await trimRootfs(root, o.suite, o.mirror);
      await must(sh`tar --numeric-owner --xattrs -C ${root} -cf ${join(work, "rootfs.tar")} .`);
    });
    const sha = await sha256File(join(work, "rootfs.tar"));
    await chmod(join(work, "rootfs.tar"), 0o644);
    await rename(join(work, "rootfs.tar"), tarball);
    await writeFile(shaFile, `${sha}\n`);
    return { tarball, sha };
  } finally {
    await removeTree(work);
  }
}

/**
 * The base image for `o.suite`. Its identity is the rootfs tarball's sha, recorded as a label, so a
 * machine that still has the image but lost /var/cache does not debootstrap again.
 */
async function ensureBase(o: BuildOptions, steps: Record<string, number>): Promise<string> {
  const friendly = `podspawn/base:${o.suite}`;
  if (!o.refreshBase && !(await stat(`${join(o.cacheDir, `rootfs-${o.suite}-minbase-${BASE_RECIPE}.tar`)}.sha256`).catch(() => undefined))) {
    const sha = await imageLabel(friendly, "podspawn.rootfs.sha256");
    const recipe = await imageLabel(friendly, "podspawn.rootfs.recipe");
    if (sha && recipe === BASE_RECIPE) return `podspawn/base:${o.suite}-${sha.slice(0, 12)}`;
  }
  const rootfs = await ensureRootfs(o, steps);
  const tag = `podspawn/base:${o.suite}-${rootfs.sha.slice(0, 12)}`;
  if (o.force || o.refreshBase || !(await imageId(tag))) {
    await step(steps, "docker import", o.log, () =>
      must(sh`docker import ${[
        "--change", `LABEL podspawn.rootfs.sha256=${rootfs.sha} podspawn.rootfs.recipe=${BASE_RECIPE}`,
        "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change", 'CMD ["/bin/bash"]',
        "--message", `podspawn base: debootstrap --variant=minbase ${o.suite}`,
      ]} ${rootfs.tarball} ${tag}`),
    );
  }
  await must(sh`docker tag ${tag} ${friendly}`);
  return tag;
}

// ---- images on top: the daemon's own compiler and builder ---------------------------------------

/** Removes other content tags of the same repo so rebuilt images do not pile up (an image still used by a container stays). */
async function pruneOldContentTags(repo: string, keep: string): Promise<void> {
  const r = await sh`docker image ls --format ${"{{.Repository}}:{{.Tag}}"} ${repo}`;
  for (const ref of r.stdout.split("\n").map((s) => s.trim())) {
    if (ref !== keep && new RegExp(`:(${PODFILE_TAG_PREFIX})?[0-9a-f]{12}$`).test(ref)) await sh`docker rmi ${ref}`;
  }
}

/** Every file of a context directory, README.md left out (docs never rebuild an image), modes kept. */
async function contextFiles(dir: string): Promise<BuildContextFile[]> {
  const out: BuildContextFile[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (relative(dir, p) !== "README.md") out.push({ path: relative(dir, p), data: await readFile(p), mode: (await stat(p)).mode & 0o777 });
    }
  }
  await walk(dir);
  return out;
}

/**
 * Makes sure `req.tag` (a content tag) exists and `name` points at it: a tag move when it exists,
 * else a build through ImageBuilds (progress lines to the log, the full output in its build log).
 */
async function ensureImage(name: string, req: ImageRequest, o: BuildOptions, steps: Record<string, number>): Promise<{ contentTag: string; built: boolean }> {
  const existing = await imageId(req.tag);
  if (existing && !o.force) {
    if ((await imageId(name)) !== existing) await must(sh`docker tag ${req.tag} ${name}`);
    return { contentTag: req.tag, built: false };
  }
  const builds = new ImageBuilds({ builder: new DockerImageBuilder(), logDir: join(o.cacheDir, "build-logs"), timeoutMs: () => BUILD_TIMEOUT_MS, log: () => undefined, maxWaiting: 0 });
  await step(steps, `build ${name}`, o.log, async () => {
    try {
      await builds.ensure({ ...req, alsoTag: [name], force: o.force }, (line) => o.log(line));
    } catch (err) {
      throw err instanceof UserFacingError && err.detail ? new Error(`${err.message}\n${err.detail}`) : err;
    }
  });
  await pruneOldContentTags(repoOf(name), req.tag);
  return { contentTag: req.tag, built: true };
}

/** A Podfile context: resolved, its `base` pinned to the base's content tag, compiled, built. */
async function podfileImage(name: string, dir: string, base: string, o: BuildOptions, steps: Record<string, number>): Promise<{ contentTag: string; built: boolean }> {
  const file = join(dir, "podfile.yaml");
  const { podfile } = await resolvePodfile(await readFile(file, "utf8"), file, { load: hostLoader, bundledBaseImage: base });
  const pinned = podfile.base === `podspawn/base:${o.suite}` ? { ...podfile, base } : podfile;
  const dockerfile = compileDockerfile(pinned);
  const tag = `${repoOf(name)}:${PODFILE_TAG_PREFIX}${dockerfileDigest(dockerfile).slice(0, 12)}`;
  const context = [{ path: "Dockerfile", data: Buffer.from(dockerfile) }];
  return ensureImage(name, { environment: podfile.name ?? name, tag, base: pinned.base, context }, o, steps);
}

/** A Dockerfile context, with BASE_IMAGE and the inputs' hash as its label. */
async function dockerfileImage(name: string, dir: string, extra: readonly BuildContextFile[], hashExtra: Readonly<Record<string, string>>, buildArgs: Readonly<Record<string, string>>, o: BuildOptions, steps: Record<string, number>): Promise<{ contentTag: string; built: boolean }> {
  const inputsSha = await hashContext(dir, { recipe: BUILD_RECIPE, ...hashExtra });
  const context = [...(await contextFiles(dir)), ...extra];
  const req: ImageRequest = { environment: name, tag: `${repoOf(name)}:${inputsSha.slice(0, 12)}`, base: null, context, buildArgs, labels: { "podspawn.inputs.sha256": inputsSha } };
  return ensureImage(name, req, o, steps);
}

async function timed(image: string, build: (steps: Record<string, number>) => Promise<{ contentTag: string; built: boolean }>): Promise<ImageResult> {
  const t0 = performance.now();
  const steps: Record<string, number> = {};
  const r = await build(steps);
  return { image, ...r, ms: Math.round(performance.now() - t0), steps };
}

async function buildDefault(o: BuildOptions): Promise<ImageResult> {
  return timed(o.defaultTag, async (steps) => {
    const base = await ensureBase(o, steps);
    const isPodfile = await stat(join(o.defaultContext, "podfile.yaml")).then(() => true, () => false);
    return isPodfile ? podfileImage(o.defaultTag, o.defaultContext, base, o, steps) : dockerfileImage(o.defaultTag, o.defaultContext, [], { base }, { BASE_IMAGE: base }, o, steps);
  });
}

async function buildPostgres(o: BuildOptions): Promise<ImageResult> {
  return timed(o.postgresTag, async (steps) => {
    const base = await ensureBase(o, steps);
    return dockerfileImage(o.postgresTag, o.postgresContext, [], { base }, { BASE_IMAGE: base }, o, steps);
  });
}

/** The binary comes from the host's busybox-static: it joins the context, and its hash the inputs. */
async function buildBusybox(o: BuildOptions): Promise<ImageResult> {
  return timed(o.busyboxTag, async (steps) => {
    const busybox = "/bin/busybox";
    const binary: BuildContextFile = { path: "busybox", data: await readFile(busybox), mode: 0o755 };
    return dockerfileImage(o.busyboxTag, o.busyboxContext, [binary], { busybox: await sha256File(busybox) }, {}, o, steps);
  });
}

export async function buildImages(options: Partial<BuildOptions> = {}): Promise<ImageResult[]> {
  const o: BuildOptions = { ...DEFAULT_BUILD_OPTIONS, ...options };
  await mkdir(o.cacheDir, { recursive: true, mode: 0o755 });
  const results: ImageResult[] = [];
  if (o.only === "all" || o.only === "default") results.push(await buildDefault(o));
  if (o.only === "all" || o.only === "postgres") results.push(await buildPostgres(o));
  if (o.only === "all" || o.only === "busybox") results.push(await buildBusybox(o));
  return results;
}

export function describeResult(r: ImageResult): string {
  return r.built
    ? `${r.image} built in ${(r.ms / 1000).toFixed(1)} s (${r.contentTag})`
    : `${r.image} image up to date (${r.contentTag}, checked in ${(r.ms / 1000).toFixed(1)} s)`;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      force: { type: "boolean", default: false },
      "refresh-base": { type: "boolean", default: false },
      tag: { type: "string" },
      "postgres-tag": { type: "string" },
      "busybox-tag": { type: "string" },
      only: { type: "string", default: "all" },
      "default-context": { type: "string" },
      "postgres-context": { type: "string" },
      "busybox-context": { type: "string" },
    },
  });
  const only = values.only;
  if (only !== "all" && only !== "default" && only !== "postgres" && only !== "busybox") throw new Error(`--only: expected default|postgres|busybox, got ${JSON.stringify(only)}`);
  if (process.getuid?.() !== 0) throw new Error("build-image needs root (debootstrap, docker)");
  const results = await buildImages({
    force: values.force,
    refreshBase: values["refresh-base"],
    only,
    ...(values.tag ? { defaultTag: values.tag } : {}),
    ...(values["postgres-tag"] ? { postgresTag: values["postgres-tag"] } : {}),
    ...(values["busybox-tag"] ? { busyboxTag: values["busybox-tag"] } : {}),
    ...(values["default-context"] ? { defaultContext: resolve(values["default-context"]) } : {}),
    ...(values["postgres-context"] ? { postgresContext: resolve(values["postgres-context"]) } : {}),
    ...(values["busybox-context"] ? { busyboxContext: resolve(values["busybox-context"]) } : {}),
  });
  for (const r of results) process.stdout.write(`${describeResult(r)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`build-image: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
