import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { InputError } from "../../agent/src/core/errors.js";
import { DEFAULT_NODE_CONFIG, parseNodeConfig, parseNodeConfigYaml } from "../../agent/src/core/config/node-config.js";

function refusedOn(field: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}: `), err.message);
    return true;
  };
}

/** The exact one-line message (`file:line: path: problem (allowed: ...)`), or its start. */
function says(expected: string | RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    if (typeof expected === "string") assert.equal(err.message, expected);
    else assert.match(err.message, expected);
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
    assert.equal(c.session.maxLifetimeMs, 24 * 3_600_000);
    assert.equal(c.session.idleTimeoutMs, 3_600_000);
    assert.equal(c.resources.cpus, 2);
    assert.equal(c.resources.memoryBytes, 2 * GiB);
    assert.equal(c.resources.pids, 512);
    assert.equal(c.ociRuntime, "runc");
    assert.ok(c.sftpSubsystems.includes("internal-sftp"));
    assert.equal(c.metricsListen, null);
  });

  it("reads direct_io: auto by default, off, a runc path and root; refuses anything else naming the field", () => {
    assert.deepEqual(parseNodeConfig({}).directIo, { mode: "auto", runc: null, runcRoot: "/run/docker/runtime-runc/moby" });
    assert.equal(parseNodeConfig({ direct_io: { mode: "off" } }).directIo.mode, "off");
    assert.deepEqual(parseNodeConfig({ direct_io: { mode: "off", runc: "/opt/runc/bin/runc", runc_root: "/run/d/runtime-runc/moby" } }).directIo, { mode: "off", runc: "/opt/runc/bin/runc", runcRoot: "/run/d/runtime-runc/moby" });
    assert.throws(() => parseNodeConfig({ direct_io: { mode: "always" } }), refusedOn("direct_io.mode"));
    assert.throws(() => parseNodeConfig({ direct_io: { runc: "runc" } }), refusedOn("direct_io.runc"));
    assert.throws(() => parseNodeConfig({ direct_io: { runc: "/usr/bin/../../tmp/runc" } }), refusedOn("direct_io.runc"));
    assert.throws(() => parseNodeConfig({ direct_io: { runc_root: "/run/x; rm -rf /" } }), refusedOn("direct_io.runc_root"));
    assert.throws(() => parseNodeConfig({ direct_io: { fast: true } }), refusedOn("direct_io.fast"));
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
limits:
  max_environments: 800
  environments_per_user: 3
  sessions_per_user: 50
  max_cpus: 8
  max_memory: 16g
  max_pids: 8192
network:
  pool: 10.200.0.0/14
  subnet_size: 27
  block_private_ranges: true
engine:
  timeout: 45s
  inspect_timeout: 5s
  accept_runc_advisories: [CVE-2024-45310]
network_linger: 2m
build_timeout: 10m
pool:
  size: 3
  project_size: 0
  specs_idle_after: 1h
direct_io:
  mode: off
  runc: /usr/local/bin/runc
  runc_root: /var/run/docker/runtime-runc/moby
oci_runtime: runsc
sftp_subsystems: [internal-sftp, /opt/sftp-server]
metrics_listen: 127.0.0.1:9464
`) as unknown;
    assert.deepEqual(parseNodeConfig(doc), {
      image: "registry.example.com:5000/team/dev@sha256:abc",
      session: { mode: "destroy-on-disconnect", gracePeriodMs: 90_000, maxLifetimeMs: 8 * 3_600_000, idleTimeoutMs: 30 * 60_000 },
      resources: { cpus: 1.5, memoryBytes: 512 * MiB, pids: 256 },
      limits: { maxEnvironments: 800, environmentsPerUser: 3, sessionsPerUser: 50 },
      resourceCaps: { cpus: 8, memoryBytes: 16 * GiB, pids: 8192 },
      network: { pool: { base: (10 * 256 + 200) * 65536, prefix: 14 }, subnetPrefix: 27, blockPrivateRanges: true },
      engineTimeouts: { callMs: 45_000, inspectMs: 5_000 },
      acceptRuncAdvisories: ["CVE-2024-45310"],
      networkLingerMs: 120_000,
      buildTimeoutMs: 600_000,
      directIo: { mode: "off", runc: "/usr/local/bin/runc", runcRoot: "/var/run/docker/runtime-runc/moby" },
      pool: { size: 3, projectSize: 0, specsIdleAfterMs: 3_600_000 },
      ociRuntime: "runsc",
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
      assert.throws(() => parseNodeConfig("image: x"), refusedOn("(top level)"));
      assert.throws(() => parseNodeConfig({ session: ["mode"] }), refusedOn("session"));
      assert.throws(() => parseNodeConfig({ resources: 4 }), refusedOn("resources"));
    });

    it("refuses an unknown session mode", () => {
      for (const mode of ["persistent-ish", "", 1]) assert.throws(() => parseNodeConfig({ session: { mode } }), refusedOn("session.mode"));
    });

    it("refuses an unknown OCI runtime under either name", () => {
      for (const runtime of ["kata", "RUNC", ""]) {
        assert.throws(() => parseNodeConfig({ oci_runtime: runtime }), refusedOn("oci_runtime"));
        assert.throws(() => parseNodeConfig({ runtime }), refusedOn("runtime"));
      }
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

    it("refuses sftp_subsystems that are not a list of non-empty strings, naming the bad entry", () => {
      for (const sftp_subsystems of ["internal-sftp", {}]) assert.throws(() => parseNodeConfig({ sftp_subsystems }), refusedOn("sftp_subsystems"));
      for (const entry of ["", 1]) assert.throws(() => parseNodeConfig({ sftp_subsystems: ["internal-sftp", entry] }), refusedOn("sftp_subsystems[1]"));
    });
  });
});

describe("capacity keys: limits, network, engine", () => {
  it("defaults to 500 environments per node, 5 per user, 32 sessions per user", () => {
    assert.deepEqual(DEFAULT_NODE_CONFIG.limits, { maxEnvironments: 500, environmentsPerUser: 5, sessionsPerUser: 32 });
  });

  it("defaults user networks to /28 blocks of 198.18.0.0/15, which no LAN, VPC or Docker default uses", () => {
    assert.deepEqual(DEFAULT_NODE_CONFIG.network, { pool: { base: (198 * 256 + 18) * 65536, prefix: 15 }, subnetPrefix: 28, blockPrivateRanges: false });
    assert.throws(() => parseNodeConfig({ network: { block_private_ranges: "yes" } }), refusedOn("network.block_private_ranges"));
  });

  it("defaults engine calls to 30 s and inspections to 10 s", () => {
    assert.deepEqual(DEFAULT_NODE_CONFIG.engineTimeouts, { callMs: 30_000, inspectMs: 10_000 });
  });

  it("caps resources at 4 CPUs, 8 GiB and 4096 pids by default, or at the node's own resources when those are larger", () => {
    assert.deepEqual(DEFAULT_NODE_CONFIG.resourceCaps, { cpus: 4, memoryBytes: 8 * GiB, pids: 4096 });
    assert.deepEqual(parseNodeConfig({ resources: { cpus: 6, memory: "12g", pids: 5000 } }).resourceCaps, { cpus: 6, memoryBytes: 12 * GiB, pids: 5000 });
  });

  it("refuses resources above a cap the admin set, at the resource, naming the cap", () => {
    assert.throws(() => parseNodeConfig({ resources: { cpus: 2 }, limits: { max_cpus: 1 } }), says("resources.cpus: 2 CPUs is above this node's cap of 1 (allowed: at most 1 (limits.max_cpus), or raise limits.max_cpus)"));
    assert.throws(() => parseNodeConfig({ limits: { max_memory: "1g" } }), says("resources.memory: 2g is above this node's cap of 1g (allowed: at most 1g (limits.max_memory), or raise limits.max_memory)"));
    assert.throws(() => parseNodeConfig({ limits: { max_pids: 100 } }), refusedOn("resources.pids"));
    assert.equal(parseNodeConfig({ resources: { cpus: 1 }, limits: { max_cpus: 1 } }).resourceCaps.cpus, 1);
  });

  it("refuses counts that are not whole numbers from 1", () => {
    for (const v of [0, -1, 1.5, "5", "lots"]) {
      assert.throws(() => parseNodeConfig({ limits: { environments_per_user: v } }), refusedOn("limits.environments_per_user"), String(v));
    }
    assert.throws(() => parseNodeConfig({ limits: { max_environments: 0 } }), says("limits.max_environments: number 0 is below 1 (allowed: a whole number 1-100000)"));
    assert.throws(() => parseNodeConfig({ limits: { sessions_per_user: 2.5 } }), refusedOn("limits.sessions_per_user"));
  });

  it("refuses a pool that is not an aligned IPv4 block, saying what it could have meant", () => {
    assert.throws(() => parseNodeConfig({ network: { pool: "10.200.0.1/14" } }), says('network.pool: "10.200.0.1/14" has host bits set; did you mean 10.200.0.0/14? (allowed: an IPv4 block such as 198.18.0.0/15: four decimal octets, /0-32, no host bits set)'));
    for (const pool of ["10.200.0.0", "10.200.0.0/33", "10.200.00.0/16", "fd00::/64", "10.256.0.0/16", 42, "10.200.0.0/14/1"]) {
      assert.throws(() => parseNodeConfig({ network: { pool } }), refusedOn("network.pool"), String(pool));
    }
  });

  it("refuses a pool over loopback, link-local (the metadata address), multicast or reserved space", () => {
    assert.throws(() => parseNodeConfig({ network: { pool: "169.254.0.0/16" } }), says(/^network\.pool: 169\.254\.0\.0\/16 overlaps 169\.254\.0\.0\/16 \(link-local, where the cloud metadata service lives\)/));
    for (const pool of ["127.0.0.0/16", "0.0.0.0/0", "224.0.0.0/8", "240.0.0.0/8", "168.0.0.0/6"]) assert.throws(() => parseNodeConfig({ network: { pool } }), refusedOn("network.pool"), pool);
  });

  it("refuses a subnet size outside 16-29 or larger than the pool", () => {
    for (const subnet_size of [15, 30, 32, 28.5, "28"]) assert.throws(() => parseNodeConfig({ network: { subnet_size } }), refusedOn("network.subnet_size"), String(subnet_size));
    assert.throws(() => parseNodeConfig({ network: { pool: "10.200.0.0/24", subnet_size: 20 } }), says("network.subnet_size: a /20 network does not fit in the pool 10.200.0.0/24 (allowed: 24-29 for this pool)"));
    assert.equal(parseNodeConfig({ network: { pool: "10.200.0.0/24", subnet_size: 24 } }).network.subnetPrefix, 24);
  });

  it("refuses an engine timeout of 0 or under 100 ms (every call needs a deadline) and over 10 minutes", () => {
    assert.throws(() => parseNodeConfig({ engine: { timeout: 0 } }), says("engine.timeout: 0 is shorter than 100ms: every engine call needs a deadline (allowed: 100ms-10m)"));
    assert.throws(() => parseNodeConfig({ engine: { inspect_timeout: "50ms" } }), refusedOn("engine.inspect_timeout"));
    assert.throws(() => parseNodeConfig({ engine: { timeout: "11m" } }), refusedOn("engine.timeout"));
    assert.equal(parseNodeConfig({ engine: { timeout: "250ms" } }).engineTimeouts.callMs, 250);
    assert.deepEqual(parseNodeConfig({}).acceptRuncAdvisories, [], "nothing accepted by default");
    assert.deepEqual(parseNodeConfig({ engine: { accept_runc_advisories: ["CVE-2025-31133"] } }).acceptRuncAdvisories, ["CVE-2025-31133"]);
    assert.throws(() => parseNodeConfig({ engine: { accept_runc_advisories: ["CVE-2025-3113"] } }), says(/^engine\.accept_runc_advisories\[0\]: .*\(allowed: CVE-2019-5736, .*CVE-2025-52881\)/));
  });

  it("names the line of a bad new key in config.yaml and suggests the nearest key", () => {
    assert.throws(() => parseNodeConfigYaml("image: podspawn/x:1\nlimits:\n  sessions_per_usr: 5\n", "config.yaml"), says(/^config\.yaml:3: limits\.sessions_per_usr: unknown field; did you mean sessions_per_user\?/));
    assert.throws(() => parseNodeConfigYaml("network:\n  pool: 10.0.0.1/8\n", "config.yaml"), says(/^config\.yaml:2: network\.pool: /));
  });

  it("reports a bad subnet_size at its line even when other new keys are valid", () => {
    assert.throws(() => parseNodeConfigYaml("limits:\n  max_environments: 10\nnetwork:\n  subnet_size: 2\n", "config.yaml"), refusedOn("config.yaml:4: network.subnet_size"));
  });
});

describe("oci_runtime and its old name runtime", () => {
  it("reads oci_runtime, and the old key runtime when it stands alone", () => {
    assert.equal(parseNodeConfig({ oci_runtime: "runsc" }).ociRuntime, "runsc");
    assert.equal(parseNodeConfig({ runtime: "runsc" }).ociRuntime, "runsc");
    assert.equal(parseNodeConfig({ runtime: "runc" }).ociRuntime, "runc");
  });

  it("refuses both keys at once, even with the same value, naming the old one", () => {
    for (const [oci_runtime, runtime] of [["runsc", "runc"], ["runc", "runc"]]) {
      assert.throws(() => parseNodeConfig({ oci_runtime, runtime }), says("runtime: is the old name of oci_runtime, and both are set (allowed: oci_runtime alone)"));
    }
  });
});

describe("timers", () => {
  // A Node timer longer than 2^31-1 ms fires at once: a 30-day max_lifetime would remove every
  // container right after it started.
  it("refuses grace_period, max_lifetime and network_linger beyond what a timer holds (24d)", () => {
    assert.equal(parseNodeConfig({ session: { max_lifetime: "24d" } }).session.maxLifetimeMs, 24 * 86_400_000);
    assert.throws(() => parseNodeConfig({ session: { max_lifetime: "25d" } }), says("session.max_lifetime: 25d is longer than 24d (allowed: at most 24d)"));
    assert.throws(() => parseNodeConfig({ session: { grace_period: "30d" } }), refusedOn("session.grace_period"));
    assert.throws(() => parseNodeConfig({ network_linger: 2_073_600_001 }), refusedOn("network_linger"));
  });

  it("lets idle_timeout be long: it is compared, not scheduled", () => {
    assert.equal(parseNodeConfig({ session: { idle_timeout: "30d" } }).session.idleTimeoutMs, 30 * 86_400_000);
  });
});

describe("parseNodeConfigYaml", () => {
  it("treats an empty file, a comment-only file and empty sections as all defaults", () => {
    for (const text of ["", "# nothing yet\n", "session:\nresources:\nimage:\n"]) assert.deepEqual(parseNodeConfigYaml(text, "config.yaml"), DEFAULT_NODE_CONFIG, JSON.stringify(text));
  });

  it("names the file, the line and the path of a bad value", () => {
    const text = "image: podspawn/x:1\nsession:\n  grace_period: 60s\n  mode: sometimes\n";
    assert.throws(() => parseNodeConfigYaml(text, "/etc/podspawn/config.yaml"), says('/etc/podspawn/config.yaml:4: session.mode: "sometimes" is not one of the choices (allowed: grace-period, destroy-on-disconnect, persistent)'));
  });

  it("suggests the nearest key for a misspelt one, at its line", () => {
    assert.throws(() => parseNodeConfigYaml("image: podspawn/x:1\nresources:\n  memroy: 2g\n", "config.yaml"), says("config.yaml:3: resources.memroy: unknown field; did you mean memory? (allowed: cpus, memory, pids)"));
  });

  it("reports the first problem in the file, not in the schema's order", () => {
    assert.throws(() => parseNodeConfigYaml("resources:\n  pids: 1\nimage: Bad\n", "c.yaml"), says(/^c\.yaml:2: resources\.pids: /));
    assert.throws(() => parseNodeConfigYaml("imagee: x\nresources:\n  pids: 1\n", "c.yaml"), says(/^c\.yaml:1: imagee: unknown field; did you mean image\?/));
  });

  it("refuses a file over 64 KiB naming it, before parsing it", () => {
    const text = `image: podspawn/x:1\n# ${"x".repeat(64 * 1024)}\n`;
    assert.throws(() => parseNodeConfigYaml(text, "config.yaml"), (err: unknown) => err instanceof InputError && err.field === "config.yaml" && /more than 65536 bytes/.test(err.message));
  });
});
