import { InputError } from "../errors.js";

/**
 * The node daemon's config (`/etc/<instance>/config.yaml`). One validator is the source of the
 * types and the defaults; every error names the YAML path. Defaults are the safe choice.
 */
/**
 * grace-period: the container stays `grace_period` after the last session, then goes.
 * destroy-on-disconnect: it goes as soon as the last session ends.
 * persistent: like grace-period, but the home directory is a named volume that outlives the
 * container, so the next container of the same (user, project) starts with the same home.
 */
export type SessionMode = "grace-period" | "destroy-on-disconnect" | "persistent";

/** Where the daemon serves `GET /metrics`: a loopback TCP port or a unix socket path. */
export type MetricsListen = { readonly host: "127.0.0.1" | "::1"; readonly port: number } | { readonly path: string };

export interface NodeConfig {
  readonly image: string;
  readonly session: {
    readonly mode: SessionMode;
    /** Time a container stays after its last session ends. @default 60 s */
    readonly gracePeriodMs: number;
    /** Hard cap on a container's life, even with sessions. 0 = none. @default 0 */
    readonly maxLifetimeMs: number;
    /** A session with no bytes either way for this long is closed. 0 = never. @default 0 */
    readonly idleTimeoutMs: number;
  };
  readonly resources: {
    /** @default 2 */
    readonly cpus: number;
    /** @default 2 GiB; swap is capped to the same figure (no swap beyond memory). */
    readonly memoryBytes: number;
    /** @default 512 */
    readonly pids: number;
  };
  /**
   * How long a user's network stays after their last container is gone, so a returning user's
   * cold login skips creating it (~65 ms). 0 removes it with the last container. @default 10 min
   */
  readonly networkLingerMs: number;
  /** @default "runc"; "runsc" is gVisor when installed and registered with dockerd. */
  readonly runtime: "runc" | "runsc";
  /** SSH_ORIGINAL_COMMAND values that mean "sftp subsystem". */
  readonly sftpSubsystems: readonly string[];
  /** HTTP metrics endpoint; read at daemon start only. @default null (none: `podspawn metrics` only) */
  readonly metricsListen: MetricsListen | null;
}

export const DEFAULT_NODE_CONFIG: NodeConfig = {
  image: "podspawn/default:bookworm",
  session: { mode: "grace-period", gracePeriodMs: 60_000, maxLifetimeMs: 0, idleTimeoutMs: 0 },
  resources: { cpus: 2, memoryBytes: 2 * 1024 ** 3, pids: 512 },
  networkLingerMs: 600_000,
  runtime: "runc",
  sftpSubsystems: ["internal-sftp", "/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server"],
  metricsListen: null,
};

const IMAGE_REF = /^[a-z0-9][a-z0-9._/:@-]{0,254}$/;

export function parseDurationMs(value: unknown, field: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value * 1000;
  const m = typeof value === "string" ? /^(\d{1,9})(ms|s|m|h|d)?$/.exec(value.trim()) : null;
  if (!m) throw new InputError(field, `${JSON.stringify(value)} is not a duration`, "e.g. 0, 30s, 5m, 8h (a bare number is seconds)");
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s") as "s"];
  return Number(m[1]) * factor;
}

export function parseBytes(value: unknown, field: string): number {
  const m = typeof value === "string" ? /^(\d{1,12})([kmgt]i?b?)?$/i.exec(value.trim()) : typeof value === "number" ? [String(value), String(value), undefined] : null;
  if (!m) throw new InputError(field, `${JSON.stringify(value)} is not a size`, "bytes, or a number with k, m, g (e.g. 512m, 2g)");
  if (typeof value === "number" && (!Number.isSafeInteger(value) || value < 0)) throw new InputError(field, `${String(value)} is not a whole number of bytes`, "bytes, or a number with k, m, g (e.g. 512m, 2g)");
  const unit = (m[2] ?? "").toLowerCase()[0];
  const factor = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : unit === "t" ? 1024 ** 4 : 1;
  return Number(m[1]) * factor;
}

const METRICS_LISTEN_ALLOWED = "127.0.0.1:PORT, [::1]:PORT or an absolute unix socket path";

/**
 * Loopback or a unix socket only: metrics reveal when the node is in use and how much, so they must
 * not be offered to the network. Containers have loopbacks of their own and cannot reach the host's.
 */
export function parseMetricsListen(value: unknown, field: string): MetricsListen | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new InputError(field, `expected a string, got ${JSON.stringify(value)}`, METRICS_LISTEN_ALLOWED);
  if (value.startsWith("/")) {
    // sun_path holds 108 bytes including the terminating NUL.
    if (value.includes("\0") || new TextEncoder().encode(value).length > 107) throw new InputError(field, `${JSON.stringify(value)} is not a usable socket path`, METRICS_LISTEN_ALLOWED);
    return { path: value };
  }
  const m = /^(.*):(\d{1,5})$/.exec(value);
  if (!m) throw new InputError(field, `${JSON.stringify(value)} is not an address`, METRICS_LISTEN_ALLOWED);
  const host = m[1] === "127.0.0.1" ? "127.0.0.1" : m[1] === "[::1]" ? "::1" : null;
  if (host === null) throw new InputError(field, `refusing ${JSON.stringify(value)}: not a loopback address, and metrics reveal activity on this node`, METRICS_LISTEN_ALLOWED);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new InputError(field, `port ${port} is not 1-65535`, METRICS_LISTEN_ALLOWED);
  return { host, port };
}

function obj(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new InputError(field, `expected a mapping, got ${Array.isArray(value) ? "a list" : typeof value}`);
  return value as Record<string, unknown>;
}

function noUnknown(o: Record<string, unknown>, known: readonly string[], field: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new InputError(field ? `${field}.${k}` : k, "unknown setting", known.join(", "));
  }
}

function range(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new InputError(field, `expected a number ${min}-${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Validate a parsed config document (YAML already turned into plain values). */
export function parseNodeConfig(doc: unknown): NodeConfig {
  const root = obj(doc, "config");
  noUnknown(root, ["image", "session", "resources", "network_linger", "runtime", "sftp_subsystems", "metrics_listen"], "");
  const d = DEFAULT_NODE_CONFIG;
  const image = root["image"] ?? d.image;
  if (typeof image !== "string" || !IMAGE_REF.test(image)) throw new InputError("image", `${JSON.stringify(image)} is not an image reference`, "e.g. podspawn/default:bookworm");
  const s = obj(root["session"], "session");
  noUnknown(s, ["mode", "grace_period", "max_lifetime", "idle_timeout"], "session");
  const mode = s["mode"] ?? d.session.mode;
  if (mode !== "grace-period" && mode !== "destroy-on-disconnect" && mode !== "persistent") {
    throw new InputError("session.mode", `${JSON.stringify(mode)} is not a session mode`, "grace-period, destroy-on-disconnect, persistent");
  }
  const r = obj(root["resources"], "resources");
  noUnknown(r, ["cpus", "memory", "pids"], "resources");
  const runtime = root["runtime"] ?? d.runtime;
  if (runtime !== "runc" && runtime !== "runsc") throw new InputError("runtime", `${JSON.stringify(runtime)} is not supported`, "runc, runsc");
  const sftp = root["sftp_subsystems"] ?? d.sftpSubsystems;
  if (!Array.isArray(sftp) || !sftp.every((x) => typeof x === "string" && x.length > 0)) throw new InputError("sftp_subsystems", "expected a list of strings");
  const memoryBytes = r["memory"] === undefined ? d.resources.memoryBytes : parseBytes(r["memory"], "resources.memory");
  if (memoryBytes < 64 * 1024 ** 2) throw new InputError("resources.memory", "is below 64m", "64m or more");
  return {
    image,
    session: {
      mode,
      gracePeriodMs: s["grace_period"] === undefined ? d.session.gracePeriodMs : parseDurationMs(s["grace_period"], "session.grace_period"),
      maxLifetimeMs: s["max_lifetime"] === undefined ? d.session.maxLifetimeMs : parseDurationMs(s["max_lifetime"], "session.max_lifetime"),
      idleTimeoutMs: s["idle_timeout"] === undefined ? d.session.idleTimeoutMs : parseDurationMs(s["idle_timeout"], "session.idle_timeout"),
    },
    resources: {
      cpus: range(r["cpus"], "resources.cpus", 0.1, 256, d.resources.cpus),
      memoryBytes,
      pids: Math.trunc(range(r["pids"], "resources.pids", 32, 1_000_000, d.resources.pids)),
    },
    networkLingerMs: root["network_linger"] === undefined ? d.networkLingerMs : parseDurationMs(root["network_linger"], "network_linger"),
    runtime,
    sftpSubsystems: sftp as string[],
    metricsListen: parseMetricsListen(root["metrics_listen"], "metrics_listen"),
  };
}
