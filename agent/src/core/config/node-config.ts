import { RUNC_ADVISORIES } from "../host/runc-advisories.js";
import * as z from "zod";
import { InputError } from "../errors.js";
import { DEFAULT_SFTP_SUBSYSTEMS } from "../container/exec-plan.js";
import { capExceeded, DEFAULT_RESOURCE_CAPS } from "../container/resource-caps.js";
import { CIDR_ALLOWED, formatCidr, overlaps, readCidr, type Cidr } from "../net/cidr.js";
import { defaulted, hint, parseYamlWith, refuse, section, validate, via, viaParsed, type DeepReadonly } from "./schema-kit.js";
import { byteSize, duration } from "./unit-schemas.js";
import { formatDurationMs, readPort } from "./units.js";

/**
 * The node daemon's config (`/etc/<instance>/config.yaml`). The schema below is the source of the
 * type, the defaults and the errors; defaults are the safe choice. Every key may be left out or
 * left empty (`key:`), which means its default.
 */

/** Where the daemon serves `GET /metrics`: a loopback TCP port or a unix socket path. */
export type MetricsListen = { readonly host: "127.0.0.1" | "::1"; readonly port: number } | { readonly path: string };

const METRICS_LISTEN_ALLOWED = "127.0.0.1:PORT, [::1]:PORT or an absolute unix socket path";

/**
 * Loopback or a unix socket only: metrics reveal when the node is in use and how much, so they must
 * not be offered to the network. Containers have loopbacks of their own and cannot reach the host's.
 */
export function parseMetricsListen(value: string, field: string): MetricsListen {
  if (value.startsWith("/")) {
    // sun_path holds 108 bytes including the terminating NUL.
    if (value.includes("\0") || new TextEncoder().encode(value).length > 107) throw new InputError(field, `${JSON.stringify(value)} is not a usable socket path`, METRICS_LISTEN_ALLOWED);
    return { path: value };
  }
  const m = /^(.*):([^:]*)$/.exec(value);
  if (!m) throw new InputError(field, `${JSON.stringify(value)} is not an address`, METRICS_LISTEN_ALLOWED);
  const host = m[1] === "127.0.0.1" ? "127.0.0.1" : m[1] === "[::1]" ? "::1" : null;
  if (host === null) throw new InputError(field, `refusing ${JSON.stringify(value)}: not a loopback address, and metrics reveal activity on this node`, METRICS_LISTEN_ALLOWED);
  const port = readPort(m[2]);
  if (!port.ok) throw new InputError(field, port.problem, METRICS_LISTEN_ALLOWED);
  return { host, port: port.value };
}

const IMAGE_REF = /^[a-z0-9][a-z0-9._/:@-]{0,254}$/;

// Node timers hold at most 2^31-1 ms (24.8 days); a longer one fires at once, which for
// max_lifetime would remove every container as soon as it started.
const TIMER_MAX_MS = 24 * 86_400_000;
const timer = () => duration({ maxMs: TIMER_MAX_MS });

const OCI_RUNTIME = hint(z.enum(["runc", "runsc"]), { allowed: "runc, runsc (gVisor, when installed and registered with dockerd)" });

const session = section({
  /**
   * grace-period: the container stays `grace_period` after the last session, then goes.
   * destroy-on-disconnect: it goes as soon as the last session ends.
   * persistent: like grace-period, but the home directory is a named volume that outlives the
   * container, so the next container of the same (user, project) starts with the same home.
   */
  mode: defaulted(z.enum(["grace-period", "destroy-on-disconnect", "persistent"]), "grace-period"),
  grace_period: defaulted(timer(), "60s"),
  // A shared node: a forgotten session or container must not hold a slot for ever (docs/operations.md).
  max_lifetime: defaulted(timer(), "24h"),
  idle_timeout: defaulted(duration(), "1h"),
});

const CPUS = () => hint(z.number().min(0.1).max(256), { allowed: "a number 0.1-256" });
const MEMORY = () => byteSize({ min: 64 * 1024 ** 2 });
const PIDS = () => hint(z.number().min(32).max(1_000_000), { allowed: "a number 32-1000000" }).transform(Math.trunc);

const resources = section({
  cpus: defaulted(CPUS(), 2),
  /** Swap is capped to the same figure (no swap beyond memory). */
  memory: defaulted(MEMORY(), "2g"),
  pids: defaulted(PIDS(), 512),
});

const count = (max: number) => hint(z.int().min(1).max(max), { allowed: `a whole number 1-${max}` });

const limits = section({
  max_environments: defaulted(count(100_000), 500),
  environments_per_user: defaulted(count(10_000), 5),
  sessions_per_user: defaulted(count(100_000), 32),
  // Left out: the built-in cap, or the node's own `resources` if those are larger.
  max_cpus: CPUS().nullish(),
  max_memory: MEMORY().nullish(),
  max_pids: PIDS().nullish(),
});

/**
 * Link-local holds the cloud metadata address, loopback and multicast are not for bridges, and
 * 0/8 and 240/4 are not addresses a host may use.
 */
const NOT_FOR_BRIDGES: readonly { readonly block: string; readonly why: string }[] = [
  { block: "0.0.0.0/8", why: "\"this network\"" },
  { block: "127.0.0.0/8", why: "loopback" },
  { block: "169.254.0.0/16", why: "link-local, where the cloud metadata service lives" },
  { block: "224.0.0.0/4", why: "multicast" },
  { block: "240.0.0.0/4", why: "reserved" },
];

const network = section({
  /** 198.18.0.0/15 (RFC 2544): no LAN, VPN, cloud VPC or Docker default uses it. See docs/operations.md. */
  pool: defaulted(hint(z.string(), { allowed: CIDR_ALLOWED }).transform(viaParsed(readCidr, CIDR_ALLOWED)), "198.18.0.0/15"),
  subnet_size: defaulted(hint(z.int().min(16).max(29), { allowed: "a prefix length 16-29 (28: 14 addresses per user network)" }), 28),
  /** For nodes in a shared VPC: containers reach no private address (the host's resolvers excepted). */
  block_private_ranges: defaulted(hint(z.boolean(), { allowed: "true or false" }), false),
});

const POOL_SIZE = () => hint(z.int().min(0).max(64), { allowed: "a whole number 0-64 (0: no pool)" });

const pool = section({
  /** Started, pristine containers kept for the default environment (node image): a first login claims one. */
  size: defaulted(POOL_SIZE(), 2),
  /** The same for each project image in recent use (a Podfile's environment). */
  project_size: defaulted(POOL_SIZE(), 1),
  /** A project spec nobody has asked for this long loses its pool (the default environment's never does). */
  specs_idle_after: defaulted(timer(), "30m"),
});

const RUNC_ADVISORY_IDS = RUNC_ADVISORIES.map((a) => a.id) as [string, ...string[]];

const ENGINE_TIMEOUT_MIN_MS = 100;
const ENGINE_TIMEOUT_MAX_MS = 10 * 60_000;
const engineTimeout = () =>
  duration({ maxMs: ENGINE_TIMEOUT_MAX_MS }).superRefine((ms, ctx) => {
    if (ms < ENGINE_TIMEOUT_MIN_MS) refuse(ctx, `${formatDurationMs(ms)} is shorter than ${formatDurationMs(ENGINE_TIMEOUT_MIN_MS)}: every engine call needs a deadline`, { allowed: "100ms-10m" });
  });

const engine = section({
  /** Create, start, remove, networks, files, exec. */
  timeout: defaulted(engineTimeout(), "30s"),
  /** Ping, inspect, list: answers the engine has at hand. */
  inspect_timeout: defaulted(engineTimeout(), "10s"),
  /**
   * Known runc escapes the admin accepts on this node (core/host/runc-advisories.ts): sessions
   * are refused while runc has one that is not listed here.
   */
  accept_runc_advisories: defaulted(z.array(hint(z.enum(RUNC_ADVISORY_IDS), { allowed: RUNC_ADVISORY_IDS.join(", ") })), []),
});

const ABSOLUTE_PATH = () => hint(z.string().regex(/^\/[A-Za-z0-9._/+-]*$/).refine((v) => !v.split("/").includes(".."), "no '..'"), { what: "an absolute path", allowed: "an absolute path of letters, digits and ._/+-" });

const directIo = section({
  /**
   * auto: a command or sftp session without a terminal, in a runc container, gets sshd's own pipes
   * as its stdio (runc exec; no byte through spawn, the daemon, dockerd or the shim), when the
   * checks in docs/security.md pass; anything else, or any failed check, takes the engine path.
   * off: always the engine path.
   */
  mode: defaulted(hint(z.enum(["auto", "off"]), { allowed: "auto, off" }), "auto"),
  /** Left out: the first of /usr/sbin/runc, /usr/bin/runc, /usr/local/sbin/runc, /usr/local/bin/runc. */
  runc: ABSOLUTE_PATH().nullish(),
  /** Docker's state directory for runc (`<exec-root>/runtime-runc/moby`). */
  runc_root: defaulted(ABSOLUTE_PATH(), "/run/docker/runtime-runc/moby"),
});

const NODE_CONFIG_FILE = z
  .strictObject({
    image: defaulted(hint(z.string().regex(IMAGE_REF), { what: "an image reference", allowed: "e.g. podspawn/default:bookworm" }), "podspawn/default:bookworm"),
    session,
    resources,
    limits,
    network,
    engine,
    network_linger: defaulted(timer(), "10m"),
    build_timeout: defaulted(duration({ maxMs: TIMER_MAX_MS }), "30m"),
    pool,
    direct_io: directIo,
    oci_runtime: OCI_RUNTIME.nullish(),
    /** The old name of oci_runtime, still read. */
    runtime: OCI_RUNTIME.nullish(),
    sftp_subsystems: defaulted(hint(z.array(hint(z.string().min(1), { allowed: "a non-empty string" })), { allowed: "a list of sshd's 'Subsystem sftp' values" }), [...DEFAULT_SFTP_SUBSYSTEMS]),
    metrics_listen: hint(z.string(), { allowed: METRICS_LISTEN_ALLOWED })
      .transform(via((v: string) => parseMetricsListen(v, "metrics_listen")))
      .nullish()
      .transform((v): MetricsListen | null => v ?? null),
  })
  .superRefine((c, ctx) => {
    if (c.oci_runtime && c.runtime) refuse(ctx, "is the old name of oci_runtime, and both are set", { allowed: "oci_runtime alone", path: ["runtime"] });
    refuseResourcesAboveCaps(c, ctx);
    refuseUnusablePool(c.network, ctx);
  })
  .transform((c) => ({
    image: c.image,
    session: {
      mode: c.session.mode,
      /** Time a container stays after its last session ends. @default 60 s */
      gracePeriodMs: c.session.grace_period,
      /** Hard cap on a container's life, even with sessions. 0 = none. @default 0 */
      maxLifetimeMs: c.session.max_lifetime,
      /** A session with no bytes either way for this long is closed. 0 = never. @default 0 */
      idleTimeoutMs: c.session.idle_timeout,
    },
    resources: { cpus: c.resources.cpus, memoryBytes: c.resources.memory, pids: c.resources.pids },
    /** Per node and per user. @default 500 environments, 5 per user, 32 sessions per user */
    limits: { maxEnvironments: c.limits.max_environments, environmentsPerUser: c.limits.environments_per_user, sessionsPerUser: c.limits.sessions_per_user },
    /**
     * The most one environment may have; a project (Podfile) asking for more is refused.
     * @default 4 CPUs, 8 GiB, 4096 pids, or `resources` where that is larger
     */
    resourceCaps: {
      cpus: c.limits.max_cpus ?? Math.max(DEFAULT_RESOURCE_CAPS.cpus, c.resources.cpus),
      memoryBytes: c.limits.max_memory ?? Math.max(DEFAULT_RESOURCE_CAPS.memoryBytes, c.resources.memory),
      pids: c.limits.max_pids ?? Math.max(DEFAULT_RESOURCE_CAPS.pids, c.resources.pids),
    },
    /** Where user networks get their subnets. @default 198.18.0.0/15 in /28s (8192 networks) */
    network: { pool: c.network.pool, subnetPrefix: c.network.subnet_size, blockPrivateRanges: c.network.block_private_ranges },
    /** Deadlines of Docker Engine API calls. @default 30 s, 10 s for ping/inspect/list */
    engineTimeouts: { callMs: c.engine.timeout, inspectMs: c.engine.inspect_timeout },
    /** Advisory ids of core/host/runc-advisories.ts that do not refuse sessions here. @default none */
    acceptRuncAdvisories: c.engine.accept_runc_advisories,
    /**
     * How long a user's network stays after their last container is gone, so a returning user's
     * cold login skips creating it (~65 ms). 0 removes it with the last container. @default 10 min
     */
    networkLingerMs: c.network_linger,
    /**
     * The longest a Podfile environment's image build may take before the login that needs it
     * is told it failed. @default 30 min
     */
    buildTimeoutMs: c.build_timeout,
    /**
     * The pre-warmed pool (daemon/environments/pool.ts): pristine containers per spec, counted
     * toward max_environments. @default 2 for the default environment, 1 per project image, 30 min
     */
    pool: { size: c.pool.size, projectSize: c.pool.project_size, specsIdleAfterMs: c.pool.specs_idle_after },
    /**
     * The direct stdio path (daemon/direct-io): its mode is read per session; runc and its root
     * at daemon start. @default auto, runc found on the usual paths, /run/docker/runtime-runc/moby
     */
    directIo: { mode: c.direct_io.mode, runc: c.direct_io.runc ?? null, runcRoot: c.direct_io.runc_root },
    /** @default "runc"; "runsc" is gVisor when installed and registered with dockerd. */
    ociRuntime: c.oci_runtime ?? c.runtime ?? "runc",
    /** SSH_ORIGINAL_COMMAND values that mean "sftp subsystem". */
    sftpSubsystems: c.sftp_subsystems,
    /** HTTP metrics endpoint; read at daemon start only. @default null (none: `podspawn metrics` only) */
    metricsListen: c.metrics_listen,
  }));

type FileInput = {
  readonly resources: { readonly cpus: number; readonly memory: number; readonly pids: number };
  readonly limits: { readonly max_cpus?: number | null | undefined; readonly max_memory?: number | null | undefined; readonly max_pids?: number | null | undefined };
};

/** The node's own resources go to every environment: they must be within the caps the admin set. */
function refuseResourcesAboveCaps(c: FileInput, ctx: z.core.$RefinementCtx<unknown>): void {
  const caps = { cpus: c.limits.max_cpus ?? Infinity, memoryBytes: c.limits.max_memory ?? Infinity, pids: c.limits.max_pids ?? Infinity };
  const over = capExceeded({ cpus: c.resources.cpus, memoryBytes: c.resources.memory, pids: c.resources.pids }, caps);
  if (over) refuse(ctx, over.problem, { allowed: `${over.allowed} (limits.max_${over.field}), or raise limits.max_${over.field}`, path: ["resources", over.field] });
}

function refuseUnusablePool(n: { readonly pool: Cidr; readonly subnet_size: number }, ctx: z.core.$RefinementCtx<unknown>): void {
  if (n.subnet_size < n.pool.prefix) {
    refuse(ctx, `a /${n.subnet_size} network does not fit in the pool ${formatCidr(n.pool)}`, { allowed: `${n.pool.prefix}-29 for this pool`, path: ["network", "subnet_size"] });
  }
  for (const bad of NOT_FOR_BRIDGES) {
    const block = readCidr(bad.block);
    if (block.ok && overlaps(block.value, n.pool)) {
      refuse(ctx, `${formatCidr(n.pool)} overlaps ${bad.block} (${bad.why})`, { allowed: "a private block your hosts do not route, e.g. 198.18.0.0/15 or 10.200.0.0/14", path: ["network", "pool"] });
    }
  }
}

/** An empty file (YAML null) is all defaults, like a missing one. */
export const NODE_CONFIG_SCHEMA = defaulted(NODE_CONFIG_FILE, {});

export type NodeConfig = DeepReadonly<z.output<typeof NODE_CONFIG_SCHEMA>>;
export type SessionMode = NodeConfig["session"]["mode"];

/** Validate a config document already turned into plain values. */
export function parseNodeConfig(doc: unknown): NodeConfig {
  return validate(NODE_CONFIG_SCHEMA, doc);
}

/** A node config is a screenful of settings; anything near this is not one. */
export const NODE_CONFIG_MAX_BYTES = 64 * 1024;

/** Parse config.yaml text; errors read `file:line: path: problem (allowed: ...)`. */
export function parseNodeConfigYaml(text: string, file: string): NodeConfig {
  return parseYamlWith(NODE_CONFIG_SCHEMA, text, file, { maxBytes: NODE_CONFIG_MAX_BYTES });
}

export const DEFAULT_NODE_CONFIG: NodeConfig = parseNodeConfig({});
