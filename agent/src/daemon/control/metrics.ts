import { MetricsRegistry } from "../../support/prometheus-text.js";
import { VERSION } from "../../core/version.js";
import { isCapacityLimit, LIMIT_NAMES, type LimitName } from "../../core/container/admission.js";
import { ENGINE_CALL_NAMES } from "../../adapters/docker/engine-deadline.js";
import type { DaemonEvent, Logger } from "../log.js";

/*
 * Labels come only from the fixed sets below, never from user names, projects or container names:
 * a label value is a series the scraper stores forever (cardinality), and metrics are read by
 * people and systems that should not learn who is working on what (privacy). A value outside its
 * set is counted as "other".
 */
const SESSION_KINDS = ["shell", "command", "sftp", "tunnel"] as const;
const SESSION_END_REASONS = ["exited", "disconnected", "idle-timeout", "client-gone", "error"] as const;
const REMOVAL_REASONS = ["grace-expired", "max-lifetime", "evicted", "stopped", "config-changed"] as const;
const POOL_REMOVAL_REASONS = ["drained", "capacity", "not-pristine", "address-pool"] as const;
const CREATE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CAPACITY_LIMITS = LIMIT_NAMES.filter((l) => isCapacityLimit(l));
const QUOTA_LIMITS = LIMIT_NAMES.filter((l) => !isCapacityLimit(l));

function fixed(value: string, allowed: readonly string[]): string {
  return allowed.includes(value) ? value : "other";
}

/** What is state rather than events, read at scrape time. */
export interface MetricsState {
  readonly environments: readonly { readonly sessions: number }[];
  readonly usersListening: number;
  /** Blocks of the user-network address pool; left out, the gauges are not set. */
  readonly addressPool?: { readonly used: number; readonly free: number };
  /** Pre-warmed containers: idle (ready for a claim) and being made. */
  readonly pool?: { readonly idle: number; readonly filling: number };
}

/** The node daemon's metrics: counters fed by its log events, gauges read at scrape time. */
export class DaemonMetrics {
  private readonly registry = new MetricsRegistry();
  private readonly sessionsStarted = this.registry.counter("podspawn_sessions_started_total", "Sessions started, by kind.", ["kind"]);
  private readonly sessionsStdio = this.registry.counter("podspawn_sessions_stdio_total", "Sessions started, by how their bytes travel: direct (the process has sshd's pipes) or relay (through the daemon).", ["path"]);
  private readonly directFallbacks = this.registry.counter("podspawn_direct_io_fallbacks_total", "Sessions that offered their pipes but took the engine path because a check failed (the reason is in the log).");
  private readonly sessionsEnded = this.registry.counter("podspawn_sessions_ended_total", "Sessions ended, by reason.", ["reason"]);
  private readonly sessionsActive = this.registry.gauge("podspawn_sessions_active", "Sessions holding a container now.");
  private readonly containers = this.registry.gauge("podspawn_containers", "Containers the daemon manages, in-use (with sessions) or idle (waiting out the grace period).", ["state"]);
  private readonly containersCreated = this.registry.counter("podspawn_containers_created_total", "Containers created.");
  private readonly containersRemoved = this.registry.counter("podspawn_containers_removed_total", "Containers removed, by reason.", ["reason"]);
  private readonly createSeconds = this.registry.histogram("podspawn_container_create_seconds", "Time to create a container and write its account, in seconds.", CREATE_BUCKETS);
  private readonly networksCreated = this.registry.counter("podspawn_networks_created_total", "Per-user networks created.");
  private readonly networksRemoved = this.registry.counter("podspawn_networks_removed_total", "Per-user networks removed.");
  private readonly errors = this.registry.counter("podspawn_errors_total", "Errors the daemon logged.");
  private readonly usersListening = this.registry.gauge("podspawn_users_listening", "Pod users with a listening socket.");
  private readonly capacityRefusals = this.registry.counter("podspawn_capacity_refusals_total", "Logins refused because the node was full, by reason (max-environments, address-pool).", ["reason"]);
  private readonly quotaRefusals = this.registry.counter("podspawn_quota_refusals_total", "Logins refused by a per-user quota, by limit.", ["limit"]);
  private readonly engineTimeouts = this.registry.counter("podspawn_engine_timeouts_total", "Docker Engine API calls that got no answer within their deadline, by call.", ["call"]);
  private readonly poolContainers = this.registry.gauge("podspawn_pool_containers", "Pre-warmed pool containers, idle (ready for a first login) or filling (being made).", ["state"]);
  private readonly poolClaims = this.registry.counter("podspawn_pool_claims_total", "First logins served by a pooled container.");
  private readonly poolMisses = this.registry.counter("podspawn_pool_misses_total", "First logins that found no pooled container of their spec (normal path).");
  private readonly poolRemoved = this.registry.counter("podspawn_pool_removed_total", "Pooled containers removed unclaimed, by reason.", ["reason"]);
  private readonly poolFillSeconds = this.registry.histogram("podspawn_pool_fill_seconds", "Time to create and start one pooled container, in seconds.", CREATE_BUCKETS);
  private readonly poolClaimSeconds = this.registry.histogram("podspawn_pool_claim_seconds", "Time to claim a pooled container (rename, network, account, marker), in seconds.", CREATE_BUCKETS);
  private readonly addressPool = this.registry.gauge("podspawn_address_pool_subnets", "Blocks of the user-network address pool, used (by anyone on the engine) or free.", ["state"]);

  constructor(now: () => number = Date.now) {
    this.registry.gauge("podspawn_daemon_start_time_seconds", "Start time of the daemon since the Unix epoch, in seconds.").set(now() / 1000);
    this.registry.gauge("podspawn_build_info", "The agent's version; always 1.", ["version"]).set(1, { version: VERSION });
    // Every known label value exists from the start, so rate() sees the first event.
    for (const kind of SESSION_KINDS) this.sessionsStarted.inc({ kind }, 0);
    for (const reason of SESSION_END_REASONS) this.sessionsEnded.inc({ reason }, 0);
    for (const path of ["direct", "relay"]) this.sessionsStdio.inc({ path }, 0);
    this.directFallbacks.inc({}, 0);
    for (const reason of REMOVAL_REASONS) this.containersRemoved.inc({ reason }, 0);
    for (const reason of CAPACITY_LIMITS) this.capacityRefusals.inc({ reason }, 0);
    for (const limit of QUOTA_LIMITS) this.quotaRefusals.inc({ limit }, 0);
    for (const reason of POOL_REMOVAL_REASONS) this.poolRemoved.inc({ reason }, 0);
    this.poolClaims.inc({}, 0);
    this.poolMisses.inc({}, 0);
  }

  private refused(limit: string): void {
    const known = (LIMIT_NAMES as readonly string[]).includes(limit) ? (limit as LimitName) : null;
    if (known && isCapacityLimit(known)) this.capacityRefusals.inc({ reason: known });
    else this.quotaRefusals.inc({ limit: fixed(limit, QUOTA_LIMITS) });
  }

  record(event: DaemonEvent): void {
    switch (event.kind) {
      case "session-start":
        this.sessionsStarted.inc({ kind: fixed(event.exec, SESSION_KINDS) });
        this.sessionsStdio.inc({ path: event.stdio === "direct" ? "direct" : "relay" });
        break;
      case "direct-io-fallback":
        this.directFallbacks.inc();
        break;
      case "session-end":
        this.sessionsEnded.inc({ reason: fixed(event.reason, SESSION_END_REASONS) });
        break;
      case "container-created":
        this.containersCreated.inc();
        this.createSeconds.observe(event.ms / 1000);
        break;
      case "container-removed":
        this.containersRemoved.inc({ reason: fixed(event.reason, REMOVAL_REASONS) });
        break;
      case "network-created":
        this.networksCreated.inc();
        break;
      case "network-removed":
        this.networksRemoved.inc();
        break;
      case "error":
        this.errors.inc();
        break;
      case "refused":
        this.refused(event.limit);
        break;
      case "pool-filled":
        this.poolFillSeconds.observe(event.ms / 1000);
        break;
      case "pool-claimed":
        this.poolClaims.inc();
        this.poolClaimSeconds.observe(event.ms / 1000);
        break;
      case "pool-miss":
        this.poolMisses.inc();
        break;
      case "pool-removed":
        this.poolRemoved.inc({ reason: fixed(event.reason, POOL_REMOVAL_REASONS) });
        break;
      case "engine-timeout":
        this.engineTimeouts.inc({ call: fixed(event.call, ENGINE_CALL_NAMES) });
        break;
      default:
        break;
    }
  }

  render(state: MetricsState): string {
    const inUse = state.environments.filter((e) => e.sessions > 0).length;
    this.sessionsActive.set(state.environments.reduce((n, e) => n + e.sessions, 0));
    this.containers.set(inUse, { state: "in-use" });
    this.containers.set(state.environments.length - inUse, { state: "idle" });
    this.usersListening.set(state.usersListening);
    if (state.addressPool) {
      this.addressPool.set(state.addressPool.used, { state: "used" });
      this.addressPool.set(state.addressPool.free, { state: "free" });
    }
    if (state.pool) {
      this.poolContainers.set(state.pool.idle, { state: "idle" });
      this.poolContainers.set(state.pool.filling, { state: "filling" });
    }
    return this.registry.render();
  }
}

/** A Logger that counts each event, then hands it on unchanged. */
export function metricsLogger(metrics: DaemonMetrics, next: Logger): Logger {
  return (event) => {
    metrics.record(event);
    next(event);
  };
}
