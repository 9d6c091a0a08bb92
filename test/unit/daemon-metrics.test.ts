import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VERSION } from "../../agent/src/core/version.js";
import type { DaemonEvent } from "../../agent/src/daemon/log.js";
import { listenMetrics } from "../../agent/src/daemon/control/metrics-http.js";
import { DaemonMetrics, metricsLogger } from "../../agent/src/daemon/control/metrics.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const idle = { environments: [], usersListening: 0 };

/** The value of one exact series line (`name{labels}`) in a rendered exposition. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("metricsLogger", () => {
  it("counts each event, then forwards it unchanged", () => {
    const metrics = new DaemonMetrics(() => 1_700_000_000_500);
    const forwarded: DaemonEvent[] = [];
    const log = metricsLogger(metrics, (e) => forwarded.push(e));
    const events: DaemonEvent[] = [
      { kind: "session-start", user: "alice", project: "web", sessionId: 1, exec: "command", tty: false, key: "SHA256:x" },
      { kind: "session-start", user: "alice", project: "web", sessionId: 2, exec: "shell", tty: true, key: "SHA256:x" },
      { kind: "session-start", user: "bob", project: "default", sessionId: 3, exec: "command", tty: false, key: "SHA256:y", stdio: "direct" },
      { kind: "direct-io-fallback", user: "alice", sessionId: 1, reason: "pid 4: its uids are 0,0,0,0" },
      { kind: "session-end", user: "alice", project: "web", sessionId: 1, exitCode: 0, reason: "exited" },
      { kind: "session-end", user: "bob", project: "default", sessionId: 3, exitCode: null, reason: "something-new" },
      { kind: "container-created", user: "alice", project: "web", container: "podspawn.alice.web", ms: 300 },
      { kind: "container-created", user: "bob", project: "default", container: "podspawn.bob.default", ms: 7000 },
      { kind: "container-removed", user: "alice", project: "web", container: "podspawn.alice.web", reason: "grace-expired" },
      { kind: "network-created", network: "podspawn.alice" },
      { kind: "network-removed", network: "podspawn.alice" },
      { kind: "error", code: "internal", message: "boom" },
      { kind: "warning", message: "not counted" },
    ];
    for (const e of events) log(e);
    assert.deepEqual(forwarded, events);

    const text = metrics.render(idle);
    const expect: Record<string, number> = {
      'podspawn_sessions_started_total{kind="command"}': 2,
      'podspawn_sessions_started_total{kind="shell"}': 1,
      'podspawn_sessions_started_total{kind="sftp"}': 0,
      'podspawn_sessions_stdio_total{path="direct"}': 1,
      'podspawn_sessions_stdio_total{path="relay"}': 2,
      "podspawn_direct_io_fallbacks_total": 1,
      'podspawn_sessions_ended_total{reason="exited"}': 1,
      'podspawn_sessions_ended_total{reason="other"}': 1,
      'podspawn_sessions_ended_total{reason="disconnected"}': 0,
      "podspawn_containers_created_total": 2,
      'podspawn_containers_removed_total{reason="grace-expired"}': 1,
      'podspawn_containers_removed_total{reason="evicted"}': 0,
      'podspawn_container_create_seconds_bucket{le="0.25"}': 0,
      'podspawn_container_create_seconds_bucket{le="0.5"}': 1,
      'podspawn_container_create_seconds_bucket{le="5"}': 1,
      'podspawn_container_create_seconds_bucket{le="10"}': 2,
      'podspawn_container_create_seconds_bucket{le="+Inf"}': 2,
      "podspawn_container_create_seconds_sum": 7.3,
      "podspawn_container_create_seconds_count": 2,
      "podspawn_networks_created_total": 1,
      "podspawn_networks_removed_total": 1,
      "podspawn_errors_total": 1,
      "podspawn_daemon_start_time_seconds": 1_700_000_000.5,
      [`podspawn_build_info{version="${VERSION}"}`]: 1,
    };
    for (const [series, want] of Object.entries(expect)) assert.equal(value(text, series), want, series);
  });

  it("never puts user names, projects or container names into the metrics", () => {
    const metrics = new DaemonMetrics();
    const log = metricsLogger(metrics, () => undefined);
    log({ kind: "session-start", user: "alice", project: "secretproj", sessionId: 1, exec: "alice-exec", tty: false, key: "SHA256:x" });
    log({ kind: "container-removed", user: "alice", project: "secretproj", container: "podspawn.alice.secretproj", reason: "alice-reason" });
    const text = metrics.render({ environments: [{ sessions: 1 }], usersListening: 1 });
    assert.doesNotMatch(text, /alice|secretproj/);
    assert.equal(value(text, 'podspawn_sessions_started_total{kind="other"}'), 1);
    assert.equal(value(text, 'podspawn_containers_removed_total{reason="other"}'), 1);
  });
});

describe("capacity metrics", () => {
  it("counts node-full refusals by reason and quota refusals by limit, from fixed sets", () => {
    const metrics = new DaemonMetrics();
    const log = metricsLogger(metrics, () => undefined);
    const refused = (limit: string): void => log({ kind: "refused", user: "alice", project: "secretproj", limit, message: "m" });
    refused("max-environments");
    refused("max-environments");
    refused("address-pool");
    refused("sessions-per-user");
    refused("environments-per-user");
    refused("alice-limit");
    const text = metrics.render(idle);
    assert.equal(value(text, 'podspawn_capacity_refusals_total{reason="max-environments"}'), 2);
    assert.equal(value(text, 'podspawn_capacity_refusals_total{reason="address-pool"}'), 1);
    assert.equal(value(text, 'podspawn_quota_refusals_total{limit="sessions-per-user"}'), 1);
    assert.equal(value(text, 'podspawn_quota_refusals_total{limit="environments-per-user"}'), 1);
    assert.equal(value(text, 'podspawn_quota_refusals_total{limit="other"}'), 1);
    assert.doesNotMatch(text, /alice|secretproj/);
  });

  it("starts the refusal counters at 0 so rate() sees the first one", () => {
    const text = new DaemonMetrics().render(idle);
    assert.equal(value(text, 'podspawn_capacity_refusals_total{reason="max-environments"}'), 0);
    assert.equal(value(text, 'podspawn_quota_refusals_total{limit="sessions-per-user"}'), 0);
  });

  it("counts pooled containers removed unclaimed by reason, from a fixed set", () => {
    const metrics = new DaemonMetrics();
    const log = metricsLogger(metrics, () => undefined);
    for (const reason of ["drained", "capacity", "not-pristine", "address-pool", "address-pool", "made-up"]) log({ kind: "pool-removed", spec: "h", container: "c", reason });
    const text = metrics.render(idle);
    assert.equal(value(text, 'podspawn_pool_removed_total{reason="address-pool"}'), 2);
    assert.equal(value(text, 'podspawn_pool_removed_total{reason="drained"}'), 1);
    assert.equal(value(text, 'podspawn_pool_removed_total{reason="not-pristine"}'), 1);
  });

  it("counts engine timeouts by call name, unknown names as other", () => {
    const metrics = new DaemonMetrics();
    const log = metricsLogger(metrics, () => undefined);
    log({ kind: "engine-timeout", call: "container create", ms: 30_000 });
    log({ kind: "engine-timeout", call: "/containers/alice/json", ms: 10_000 });
    const text = metrics.render(idle);
    assert.equal(value(text, 'podspawn_engine_timeouts_total{call="container create"}'), 1);
    assert.equal(value(text, 'podspawn_engine_timeouts_total{call="other"}'), 1);
  });

  it("shows the address pool's used and free blocks when the state has them", () => {
    const text = new DaemonMetrics().render({ ...idle, addressPool: { used: 12, free: 8180 } });
    assert.equal(value(text, 'podspawn_address_pool_subnets{state="used"}'), 12);
    assert.equal(value(text, 'podspawn_address_pool_subnets{state="free"}'), 8180);
  });
});

describe("DaemonMetrics.render", () => {
  it("reads the state gauges at scrape time", () => {
    const metrics = new DaemonMetrics();
    const text = metrics.render({ environments: [{ sessions: 2 }, { sessions: 0 }, { sessions: 1 }], usersListening: 4 });
    assert.equal(value(text, "podspawn_sessions_active"), 3);
    assert.equal(value(text, 'podspawn_containers{state="in-use"}'), 2);
    assert.equal(value(text, 'podspawn_containers{state="idle"}'), 1);
    assert.equal(value(text, "podspawn_users_listening"), 4);
    const later = metrics.render(idle);
    assert.equal(value(later, "podspawn_sessions_active"), 0);
    assert.equal(value(later, 'podspawn_containers{state="in-use"}'), 0);
  });

  it("declares every family once with HELP and TYPE", () => {
    const text = new DaemonMetrics().render(idle);
    const types = text.split("\n").filter((l) => l.startsWith("# TYPE "));
    assert.deepEqual(
      types.map((l) => l.split(" ").slice(2).join(" ")),
      [
        "podspawn_sessions_started_total counter",
        "podspawn_sessions_stdio_total counter",
        "podspawn_direct_io_fallbacks_total counter",
        "podspawn_sessions_ended_total counter",
        "podspawn_sessions_active gauge",
        "podspawn_containers gauge",
        "podspawn_containers_created_total counter",
        "podspawn_containers_removed_total counter",
        "podspawn_container_create_seconds histogram",
        "podspawn_networks_created_total counter",
        "podspawn_networks_removed_total counter",
        "podspawn_errors_total counter",
        "podspawn_users_listening gauge",
        "podspawn_capacity_refusals_total counter",
        "podspawn_quota_refusals_total counter",
        "podspawn_engine_timeouts_total counter",
        "podspawn_pool_containers gauge",
        "podspawn_pool_claims_total counter",
        "podspawn_pool_misses_total counter",
        "podspawn_pool_removed_total counter",
        "podspawn_pool_fill_seconds histogram",
        "podspawn_pool_claim_seconds histogram",
        "podspawn_address_pool_subnets gauge",
        "podspawn_daemon_start_time_seconds gauge",
        "podspawn_build_info gauge",
      ],
    );
    assert.equal(text.split("\n").filter((l) => l.startsWith("# HELP ")).length, types.length);
  });
});

describe("VERSION", () => {
  it("is package.json's version", async () => {
    const pkg = JSON.parse(await readFile(join(repo, "package.json"), "utf8")) as { version: string };
    assert.equal(VERSION, pkg.version);
  });
});

function get(socketPath: string, path: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("listenMetrics", () => {
  it("serves GET /metrics as text/plain version 0.0.4 on a root-only socket, 404 otherwise, and removes the socket on close", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pst-metrics-"));
    const path = join(dir, "metrics.sock");
    const server = await listenMetrics({ path }, () => "# HELP x X.\n# TYPE x gauge\nx 1\n");
    try {
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const ok = await get(path, "/metrics");
      assert.equal(ok.status, 200);
      assert.equal(ok.type, "text/plain; version=0.0.4; charset=utf-8");
      assert.equal(ok.body, "# HELP x X.\n# TYPE x gauge\nx 1\n");
      assert.equal((await get(path, "/")).status, 404);
      assert.equal((await get(path, "/metrics/x")).status, 404);
      assert.equal((await get(path, "/metrics", "POST")).status, 404);
    } finally {
      await server.close();
    }
    await assert.rejects(stat(path), { code: "ENOENT" });
    await rm(dir, { recursive: true, force: true });
  });
});
