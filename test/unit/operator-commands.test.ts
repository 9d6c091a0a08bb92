import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { makeListCommand } from "../../agent/src/cli/commands/ops/list.js";
import { stopCommand } from "../../agent/src/cli/commands/ops/stop.js";
import { versionCommand } from "../../agent/src/cli/commands/ops/version.js";
import { makeDoctorCommand } from "../../agent/src/cli/commands/ops/doctor.js";
import type { Command } from "../../agent/src/cli/command.js";
import { main } from "../../agent/src/cli/main.js";
import { DrainGate } from "../../agent/src/daemon/environments/drain-gate.js";
import { OPEN, type DrainState } from "../../agent/src/core/host/drain.js";
import { InputError, UserFacingError } from "../../agent/src/core/errors.js";
import { layoutFor, type Layout } from "../../agent/src/core/host/layout.js";
import { doctorExitCode, doctorJson, failed, passed, renderDoctorReport } from "../../agent/src/core/ops/doctor-report.js";
import { formatAge } from "../../agent/src/core/ops/durations.js";
import { renderEnvironmentList } from "../../agent/src/core/ops/environment-list.js";
import { parseStopTarget } from "../../agent/src/core/ops/stop-target.js";
import { configuredPoolNetworks, enginePoolUsage, poolHasHeadroom } from "../../agent/src/core/ops/address-pool.js";
import { isSupportedOpenSsh, parseOpenSshVersion } from "../../agent/src/core/ops/openssh-version.js";
import type { ListedEnvironment, RequestOf } from "../../agent/src/core/protocol/control-protocol.js";
import { VERSION } from "../../agent/src/core/version.js";
import { listenControl, type ControlHandlers } from "../../agent/src/daemon/control/control-server.js";
import type { Environments } from "../../agent/src/daemon/environments/environments.js";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const dir = mkdtempSync(join(tmpdir(), "pst-ops-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);

const ENVS: ListedEnvironment[] = [
  { user: "bob", project: "default", container: "podspawn.bob.default", id: "fedcba987654", status: "idle", sessions: 0, createdAt: new Date(NOW - 3 * 3600_000 - 5 * 60_000).toISOString(), expiresAt: null },
  { user: "alice", project: "web", container: "podspawn.alice.web", id: "0123456789ab", status: "in-use", sessions: 2, createdAt: new Date(NOW - 90_000).toISOString(), expiresAt: new Date(NOW + 7 * 60_000).toISOString() },
];

/** A real control socket, answering from handlers the test records. */
async function daemonAt(name: string): Promise<{ layout: Layout; stops: RequestOf<"stop">[]; server: Server }> {
  const stops: RequestOf<"stop">[] = [];
  let drained: DrainState = OPEN;
  const handlers: ControlHandlers = {
    drainGate: new DrainGate({ load: async () => drained, save: async (s) => void (drained = s) }),
    reload: async () => undefined,
    environments: { list: () => [] } as unknown as Environments,
    containerName: (u, p) => `podspawn.${u}.${p}`,
    metrics: () => "",
    listEnvironments: async () => ENVS,
    stopEnvironments: async (req) => {
      stops.push(req);
      if (req.user === "carol") throw new InputError("user", 'no pod user named "carol" and nothing of that name on this node');
      return { ok: true, environments: req.project === null ? 2 : 1, sessions: 1, volumes: req.purge ? 1 : 0 };
    },
    addressPool: () => null,
  };
  const socket = join(dir, `${name}.sock`);
  const server = await listenControl(socket, handlers);
  return { layout: { ...layoutFor("podspawn"), controlSocket: socket }, stops, server };
}

async function run(cmd: Command, argv: string[], layout: Layout = layoutFor("podspawn")): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  let code: number;
  try {
    code = await cmd.run(argv, { stdout, stderr, env: {}, layout });
  } catch (err) {
    code = err instanceof InputError ? 2 : err instanceof UserFacingError ? 1 : 99;
    stderr.text += `${(err as Error).message}\n`;
  }
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("podspawn list", () => {
  it("prints USER PROJECT CONTAINER STATUS SESSIONS AGE LIFETIME-LEFT, sorted, from the daemon's answer", async () => {
    const d = await daemonAt("list");
    try {
      const r = await run(makeListCommand(() => NOW), [], d.layout);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        [
          "USER   PROJECT  CONTAINER             STATUS  SESSIONS  AGE    LIFETIME-LEFT",
          "alice  web      podspawn.alice.web    in-use  2         1m     7m",
          "bob    default  podspawn.bob.default  idle    0         3h05m  -",
          "",
        ].join("\n"),
      );
      const json = JSON.parse((await run(makeListCommand(() => NOW), ["--json"], d.layout)).stdout) as { environments: ListedEnvironment[] };
      assert.deepEqual(json.environments, ENVS);
    } finally {
      d.server.close();
    }
  });

  it("says there are none, and that the daemon is down when it is", async () => {
    assert.equal(renderEnvironmentList([], NOW), "no environments\n");
    const r = await run(makeListCommand(), [], { ...layoutFor("podspawn"), controlSocket: join(dir, "nobody.sock") });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^the node daemon is not running/);
  });

  it("formats ages short, and a lifetime past its end as expiring", () => {
    assert.deepEqual([45_000, 7 * 60_000, 2 * 3600_000 + 5 * 60_000, 3 * 86_400_000 + 4 * 3600_000, -5].map(formatAge), ["45s", "7m", "2h05m", "3d4h", "0s"]);
    const late = renderEnvironmentList([{ ...ENVS[1], expiresAt: new Date(NOW - 1).toISOString() } as ListedEnvironment], NOW);
    assert.match(late, /expiring$/m);
  });
});

describe("podspawn stop", () => {
  it("asks the daemon to stop USER or USER@PROJECT, with --purge, and reports what went", async () => {
    const d = await daemonAt("stop");
    try {
      const all = await run(stopCommand, ["alice"], d.layout);
      assert.equal(all.stdout, "stopped alice: ended 1 session, removed 2 containers\n");
      const one = await run(stopCommand, ["alice@web", "--purge"], d.layout);
      assert.equal(one.stdout, "stopped alice@web: ended 1 session, removed 1 container, deleted 1 home volume\n");
      assert.deepEqual(d.stops, [
        { op: "stop", user: "alice", project: null, purge: false },
        { op: "stop", user: "alice", project: "web", purge: true },
      ]);
    } finally {
      d.server.close();
    }
  });

  it("passes the daemon's refusal of an unknown user through as one line, exit 1", async () => {
    const d = await daemonAt("stop-unknown");
    try {
      const r = await run(stopCommand, ["carol"], d.layout);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'the daemon refused: user: no pod user named "carol" and nothing of that name on this node\n');
    } finally {
      d.server.close();
    }
  });

  it("refuses a malformed target before asking the daemon", () => {
    assert.deepEqual(parseStopTarget("alice"), { user: "alice", project: null });
    assert.deepEqual(parseStopTarget("alice@web"), { user: "alice", project: "web" });
    assert.throws(() => parseStopTarget("alice@Web"), /^InputError: PROJECT: "Web" is not a valid project name/);
    assert.throws(() => parseStopTarget("a@b@c"), /has more than one @/);
    assert.throws(() => parseStopTarget("@web"), /^InputError: USER: must not be empty/);
  });
});

describe("doctor report", () => {
  const results = [
    { name: "engine", ...passed("Docker 20.10 at /var/run/docker.sock") },
    { name: "state-dir", ...failed("/var/lib/podspawn must be root 0700 (is uid 0, mode 0755)", "chmod 0700 /var/lib/podspawn") },
    { name: "image", ...failed("podspawn/default:bookworm is not in the engine", "build it") },
  ];

  it("lists every check, counts, and ends with one fix line per failing check", () => {
    assert.equal(
      renderDoctorReport("podspawn", results),
      [
        "podspawn doctor (instance podspawn)",
        "ok    engine     Docker 20.10 at /var/run/docker.sock",
        "FAIL  state-dir  /var/lib/podspawn must be root 0700 (is uid 0, mode 0755)",
        "FAIL  image      podspawn/default:bookworm is not in the engine",
        "1 passed, 2 failed",
        "fix state-dir: chmod 0700 /var/lib/podspawn",
        "fix image: build it",
        "",
      ].join("\n"),
    );
    assert.equal(doctorExitCode(results), 1);
    assert.equal(doctorExitCode(results.slice(0, 1)), 0);
  });

  it("gives the same in JSON, the fix only on failing checks", () => {
    const doc = JSON.parse(doctorJson("podspawn", results)) as { ok: boolean; checks: Record<string, unknown>[] };
    assert.equal(doc.ok, false);
    assert.deepEqual(doc.checks[0], { name: "engine", ok: true, detail: "Docker 20.10 at /var/run/docker.sock" });
    assert.equal(doc.checks[1]?.["fix"], "chmod 0700 /var/lib/podspawn");
  });

  it("exits with the report's verdict, checking the --sshd-config it is given", async () => {
    let seen: readonly string[] = [];
    const cmd = makeDoctorCommand((layout, socket, configs) => {
      seen = configs;
      throw new Error(`deps for ${layout.instance} ${socket}`);
    });
    const r = await run(cmd, ["--sshd-config", "/etc/x/sshd_config", "--docker-socket", "/run/d.sock"]);
    assert.deepEqual(seen, ["/etc/x/sshd_config"]);
    assert.match(r.stderr, /deps for podspawn \/run\/d\.sock/);
  });
});

describe("version", () => {
  it("prints podspawn VERSION for 'version' and for --version", async () => {
    assert.equal((await run(versionCommand, [])).stdout, `podspawn ${VERSION}\n`);
    const stdout = new Sink();
    assert.equal(await main(["--version"], { stdout, stderr: stdout, env: {}, layout: layoutFor() }), 0);
    assert.equal(stdout.text, `podspawn ${VERSION}\n`);
  });
});

describe("pool and OpenSSH facts", () => {
  it("counts daemon.json's pools and judges the headroom", () => {
    assert.equal(configuredPoolNetworks([{ base: "172.20.0.0/14", size: 24 }]), 1024);
    assert.equal(configuredPoolNetworks([{ base: "10.0.0.0/8", size: 16 }, { base: "192.168.0.0/16", size: 20 }]), 256 + 16);
    assert.equal(configuredPoolNetworks([{ base: "10.0.0.0/24", size: 16 }]), null, "a subnet larger than its pool");
    assert.equal(configuredPoolNetworks([{ base: "10.0.0.0", size: 16 }]), null);
    assert.deepEqual(enginePoolUsage(40, 31, "x"), { used: 40, free: 0, source: "x" });
    assert.equal(poolHasHeadroom({ used: 26, free: 5, source: "x" }), true);
    assert.equal(poolHasHeadroom({ used: 27, free: 4, source: "x" }), false);
  });

  it("reads sshd -V and ssh -V output and wants 8.2 or later", () => {
    const v = parseOpenSshVersion("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024");
    assert.deepEqual(v, { major: 9, minor: 2, text: "OpenSSH_9.2p1" });
    assert.equal(isSupportedOpenSsh({ major: 8, minor: 2, text: "" }), true);
    assert.equal(isSupportedOpenSsh({ major: 8, minor: 1, text: "" }), false);
    assert.equal(isSupportedOpenSsh({ major: 10, minor: 0, text: "" }), true);
    assert.equal(parseOpenSshVersion("command not found"), null);
  });
});
