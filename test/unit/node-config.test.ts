import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { InputError } from "../../agent/src/core/errors.js";
import { DEFAULT_NODE_CONFIG, parseBytes, parseDurationMs, parseNodeConfig } from "../../agent/src/core/config/node-config.js";

function refusedOn(field: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}: `), err.message);
    return true;
  };
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe("parseNodeConfig", () => {
  it("returns the defaults for an undefined, null or empty document", () => {
    for (const doc of [undefined, null, {}]) assert.deepEqual(parseNodeConfig(doc), DEFAULT_NODE_CONFIG);
  });

  it("has safe documented defaults", () => {
    const c = parseNodeConfig({});
    assert.equal(c.session.mode, "grace-period");
    assert.equal(c.session.gracePeriodMs, 60_000);
    assert.equal(c.session.maxLifetimeMs, 0);
    assert.equal(c.resources.cpus, 2);
    assert.equal(c.resources.memoryBytes, 2 * GiB);
    assert.equal(c.resources.pids, 512);
    assert.equal(c.runtime, "runc");
    assert.ok(c.sftpSubsystems.includes("internal-sftp"));
    assert.equal(c.metricsListen, null);
  });

  it("reads metrics_listen as a loopback port or a unix socket path", () => {
    assert.deepEqual(parseNodeConfig({ metrics_listen: "127.0.0.1:9464" }).metricsListen, { host: "127.0.0.1", port: 9464 });
    assert.deepEqual(parseNodeConfig({ metrics_listen: "[::1]:65535" }).metricsListen, { host: "::1", port: 65535 });
    assert.deepEqual(parseNodeConfig({ metrics_listen: "/run/podspawn/metrics.sock" }).metricsListen, { path: "/run/podspawn/metrics.sock" });
    assert.equal(parseNodeConfig({ metrics_listen: null }).metricsListen, null);
  });

  it("parses every field of a full YAML document", () => {
    const doc = parseYaml(`
image: registry.example.com:5000/team/dev@sha256:abc
session:
  mode: destroy-on-disconnect
  grace_period: 90s
  max_lifetime: 8h
  idle_timeout: 30m
resources:
  cpus: 1.5
  memory: 512m
  pids: 256
network_linger: 2m
runtime: runsc
sftp_subsystems: [internal-sftp, /opt/sftp-server]
metrics_listen: 127.0.0.1:9464
`) as unknown;
    assert.deepEqual(parseNodeConfig(doc), {
      image: "registry.example.com:5000/team/dev@sha256:abc",
      session: { mode: "destroy-on-disconnect", gracePeriodMs: 90_000, maxLifetimeMs: 8 * 3_600_000, idleTimeoutMs: 30 * 60_000 },
      resources: { cpus: 1.5, memoryBytes: 512 * MiB, pids: 256 },
      networkLingerMs: 120_000,
      runtime: "runsc",
      sftpSubsystems: ["internal-sftp", "/opt/sftp-server"],
      metricsListen: { host: "127.0.0.1", port: 9464 },
    });
  });

  it("reads durations with units and bare numbers as seconds", () => {
    assert.equal(parseNodeConfig({ session: { grace_period: "5m" } }).session.gracePeriodMs, 300_000);
    assert.equal(parseNodeConfig({ session: { grace_period: 30 } }).session.gracePeriodMs, 30_000);
    assert.equal(parseNodeConfig({ session: { grace_period: "45" } }).session.gracePeriodMs, 45_000);
    assert.equal(parseNodeConfig({ session: { grace_period: 0 } }).session.gracePeriodMs, 0);
    assert.equal(parseNodeConfig({ session: { max_lifetime: "1d" } }).session.maxLifetimeMs, 86_400_000);
  });

  it("reads memory sizes with units", () => {
    assert.equal(parseNodeConfig({ resources: { memory: "2g" } }).resources.memoryBytes, 2 * GiB);
    assert.equal(parseNodeConfig({ resources: { memory: "512M" } }).resources.memoryBytes, 512 * MiB);
    assert.equal(parseNodeConfig({ resources: { memory: "1GiB" } }).resources.memoryBytes, GiB);
    assert.equal(parseNodeConfig({ resources: { memory: 128 * MiB } }).resources.memoryBytes, 128 * MiB);
  });

  it("truncates a fractional pids limit to an integer", () => {
    assert.equal(parseNodeConfig({ resources: { pids: 100.9 } }).resources.pids, 100);
  });

  describe("refusals", () => {
    it("refuses an unknown top-level key naming it", () => {
      assert.throws(() => parseNodeConfig({ imagee: "x" }), refusedOn("imagee"));
    });

    it("refuses an unknown nested key naming its path", () => {
      assert.throws(() => parseNodeConfig({ session: { grace: "60s" } }), refusedOn("session.grace"));
      assert.throws(() => parseNodeConfig({ resources: { memory_swap: "1g" } }), refusedOn("resources.memory_swap"));
    });

    it("refuses a document or section that is not a mapping", () => {
      assert.throws(() => parseNodeConfig("image: x"), refusedOn("config"));
      assert.throws(() => parseNodeConfig({ session: ["mode"] }), refusedOn("session"));
      assert.throws(() => parseNodeConfig({ resources: 4 }), refusedOn("resources"));
    });

    it("refuses an unknown session mode", () => {
      for (const mode of ["persistent-ish", "", 1]) assert.throws(() => parseNodeConfig({ session: { mode } }), refusedOn("session.mode"));
    });

    it("refuses an unknown runtime", () => {
      for (const runtime of ["kata", "RUNC", ""]) assert.throws(() => parseNodeConfig({ runtime }), refusedOn("runtime"));
    });

    it("refuses bad image references", () => {
      for (const image of ["", "Upper/Case", "-leading", "has space", "x;rm -rf /", 42]) {
        assert.throws(() => parseNodeConfig({ image }), refusedOn("image"));
      }
    });

    it("refuses cpus outside 0.1-256", () => {
      for (const cpus of [0, 0.05, 257, "2", Number.NaN, Infinity]) assert.throws(() => parseNodeConfig({ resources: { cpus } }), refusedOn("resources.cpus"));
    });

    it("refuses pids outside 32-1000000", () => {
      for (const pids of [0, 31, 1_000_001, "512"]) assert.throws(() => parseNodeConfig({ resources: { pids } }), refusedOn("resources.pids"));
    });

    it("refuses memory below 64m and accepts exactly 64m", () => {
      assert.throws(() => parseNodeConfig({ resources: { memory: "63m" } }), refusedOn("resources.memory"));
      assert.throws(() => parseNodeConfig({ resources: { memory: 1000 } }), refusedOn("resources.memory"));
      assert.equal(parseNodeConfig({ resources: { memory: "64m" } }).resources.memoryBytes, 64 * MiB);
    });

    it("refuses memory that is not a size", () => {
      for (const memory of ["lots", "1.5g", "2x", true]) assert.throws(() => parseNodeConfig({ resources: { memory } }), refusedOn("resources.memory"));
    });

    // YAML's `.inf` and `.nan` parse to numbers; a memory limit must be a finite byte count.
    it("refuses non-finite memory from YAML .inf and .nan", () => {
      for (const text of ["resources: { memory: .inf }", "resources: { memory: .nan }"]) {
        assert.throws(() => parseNodeConfig(parseYaml(text)), refusedOn("resources.memory"), text);
      }
    });

    it("refuses bad durations naming the field", () => {
      for (const grace_period of ["soon", "1.5h", "-5s", -1, 1.5, "5 minutes"]) {
        assert.throws(() => parseNodeConfig({ session: { grace_period } }), refusedOn("session.grace_period"));
      }
      assert.throws(() => parseNodeConfig({ session: { max_lifetime: "forever" } }), refusedOn("session.max_lifetime"));
    });

    it("refuses a metrics_listen that is not loopback, not an address or not a usable path", () => {
      const bad = ["0.0.0.0:9464", "[::]:9464", "192.168.1.5:9464", "localhost:9464", "127.0.0.2:9464", "::1:9464", ":9464", "9464", 9464, "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1", "metrics.sock", "/" + "x".repeat(107), ["127.0.0.1:9464"]];
      for (const metrics_listen of bad) assert.throws(() => parseNodeConfig({ metrics_listen }), refusedOn("metrics_listen"), JSON.stringify(metrics_listen));
      assert.throws(() => parseNodeConfig({ metrics_listen: "0.0.0.0:9464" }), /not a loopback address/);
    });

    it("refuses sftp_subsystems that are not a list of non-empty strings", () => {
      for (const sftp_subsystems of ["internal-sftp", [""], [1], {}]) {
        assert.throws(() => parseNodeConfig({ sftp_subsystems }), refusedOn("sftp_subsystems"));
      }
    });
  });
});

describe("parseDurationMs", () => {
  it("reads every unit", () => {
    assert.equal(parseDurationMs("250ms", "d"), 250);
    assert.equal(parseDurationMs("90s", "d"), 90_000);
    assert.equal(parseDurationMs("5m", "d"), 300_000);
    assert.equal(parseDurationMs("2h", "d"), 7_200_000);
    assert.equal(parseDurationMs("1d", "d"), 86_400_000);
    assert.equal(parseDurationMs(" 10s ", "d"), 10_000);
  });
});

describe("parseBytes", () => {
  it("reads k, m, g, t with optional i and b, case-insensitively", () => {
    assert.equal(parseBytes("1k", "m"), 1024);
    assert.equal(parseBytes("1KB", "m"), 1024);
    assert.equal(parseBytes("3MiB", "m"), 3 * MiB);
    assert.equal(parseBytes("2g", "m"), 2 * GiB);
    assert.equal(parseBytes("1t", "m"), 1024 ** 4);
    assert.equal(parseBytes("4096", "m"), 4096);
  });
});
