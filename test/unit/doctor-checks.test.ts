import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { DoctorDeps, DoctorFs, FileFacts } from "../../agent/src/admin/doctor/deps.js";
import { CHECK_TIMEOUT_MS, DOCTOR_CHECKS, runChecks } from "../../agent/src/admin/doctor/run-checks.js";
import { sshdConfigsToCheck } from "../../agent/src/admin/doctor/sshd-configs.js";
import type { EngineProbe } from "../../agent/src/adapters/docker/engine-probe.js";
import { DEFAULT_NODE_CONFIG } from "../../agent/src/core/config/node-config.js";
import { InputError } from "../../agent/src/core/errors.js";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { renderSshdDropin } from "../../agent/src/core/host/sshd-dropin.js";
import type { NamedResult } from "../../agent/src/core/ops/doctor-report.js";
import { FakeAccounts } from "./helpers/fake-accounts.js";
import { fakeDaemon } from "./helpers/fake-control.js";
import { scriptedRunner, type Answer } from "./helpers/scripted-runner.js";

const layout = layoutFor("podspawn-doc");
const SSHD = "/etc/ssh/sshd_config";
const DOCKER = "/var/run/docker.sock";
const dir = (mode: number, gid = 0): FileFacts => ({ kind: "dir", uid: 0, gid, mode });
const file = (mode: number): FileFacts => ({ kind: "file", uid: 0, gid: 0, mode });

/** A host where everything is as `install`, `server-setup` and a running daemon leave it. */
class HostWorld {
  readonly accounts = new FakeAccounts();
  readonly daemon = fakeDaemon();
  readonly paths = new Map<string, FileFacts>();
  readonly texts = new Map<string, string>();
  readonly problems = new Map<string, string[]>();
  freeBytes = 50 * 1024 ** 3;
  answers: Answer[] = [];
  engineDown = false;
  images = new Set([DEFAULT_NODE_CONFIG.image]);
  bridgeNetworks = 4;
  configError: Error | null = null;
  runcVersion: string | Error = "1.3.3";
  accepted: string[] = [];

  async init(): Promise<this> {
    await this.accounts.ensureServiceUser(layout.keysUser);
    const keysGid = (await this.accounts.getGroup(layout.keysUser))?.gid ?? -1;
    this.paths.set(layout.controlSocket, { kind: "socket", uid: 0, gid: 0, mode: 0o600 });
    this.paths.set(`${layout.runDir}/u`, dir(0o755));
    this.paths.set(`${layout.runDir}/u/alice`, dir(0o710, 70_001));
    this.paths.set(DOCKER, { kind: "socket", uid: 0, gid: 998, mode: 0o660 });
    for (const p of [layout.command, ...["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"].map((b) => `${layout.libDir}/${b}`)]) this.paths.set(p, file(0o755));
    this.paths.set(layout.usersDir, dir(0o750, keysGid));
    this.paths.set(layout.stateDir, dir(0o700));
    this.paths.set(`${layout.stateDir}/audit.log`, file(0o600));
    this.texts.set(SSHD, "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\nMatch User backup\n  X11Forwarding no\n");
    this.texts.set("/etc/ssh/sshd_config.d/50-podspawn-doc.conf", renderSshdDropin(layout, "file"));
    return this;
  }

  fs(): DoctorFs {
    return {
      stat: async (p) => this.paths.get(p) ?? null,
      readText: async (p) => this.texts.get(p) ?? null,
      list: async (d) => [...this.paths.keys()].filter((p) => p.startsWith(`${d}/`) && !p.slice(d.length + 1).includes("/")).map((p) => p.slice(d.length + 1)),
      freeBytes: async () => this.freeBytes,
      rootOwnedProblems: async (p) => this.problems.get(p) ?? [],
    };
  }

  engine(): EngineProbe {
    const up = (): void => {
      if (this.engineDown) throw new Error("connect ENOENT /var/run/docker.sock");
    };
    return {
      info: async () => (up(), { serverVersion: "20.10.24", dataRoot: "/var/lib/docker" }),
      imageExists: async (ref) => (up(), this.images.has(ref)),
      bridgeNetworks: async () => (up(), this.bridgeNetworks),
    };
  }

  deps(): DoctorDeps {
    const run = scriptedRunner([...this.answers, (f, a) => (f.endsWith("sshd") && a[0] === "-V" ? { stderr: "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15\n" } : undefined)]).run;
    return {
      layout,
      dockerSocket: DOCKER,
      sshdConfigs: [SSHD],
      control: this.daemon.control,
      engine: this.engine(),
      run,
      fs: this.fs(),
      accounts: this.accounts,
      loadConfig: async () => {
        if (this.configError) throw this.configError;
        return { ...DEFAULT_NODE_CONFIG, acceptRuncAdvisories: this.accepted };
      },
      runc: async () => {
        if (this.runcVersion instanceof Error) throw this.runcVersion;
        return { versionOutput: `runc version ${this.runcVersion}\ncommit: x\n`, changelog: null };
      },
    };
  }
}

async function results(w: HostWorld): Promise<Map<string, NamedResult>> {
  return new Map((await runChecks(DOCTOR_CHECKS, w.deps())).map((r) => [r.name, r]));
}

/** Only `name` fails, with a detail and a fix matching these. */
async function onlyFails(w: HostWorld, name: string, detail: RegExp, fix: RegExp): Promise<void> {
  const r = await results(w);
  const failing = [...r.values()].filter((x) => !x.ok).map((x) => x.name);
  assert.deepEqual(failing, [name], JSON.stringify([...r.values()].filter((x) => !x.ok)));
  assert.match(r.get(name)?.detail ?? "", detail);
  assert.match(r.get(name)?.fix ?? "", fix);
}

describe("doctor checks", () => {
  it("all pass on a host as install, server-setup and a running daemon leave it", async () => {
    const r = await results(await new HostWorld().init());
    assert.deepEqual([...r.values()].filter((x) => !x.ok), []);
    assert.deepEqual([...r.keys()], ["config", "daemon", "engine", "sockets", "openssh", "sshd-config", "drop-in", "install-tree", "keys-user", "state-dir", "disk", "image", "address-pool", "metadata-rule", "runc"]);
    assert.match(r.get("address-pool")?.detail ?? "", /^27 user network\(s\) free, 4 in use \(Docker's default address pools\)$/);
  });

  it("runc: fails on open advisories not accepted, says what they refuse, and passes once they are accepted", async () => {
    const w = await new HostWorld().init();
    w.runcVersion = "1.1.12";
    await onlyFails(w, "runc", /^runc 1\.1\.12 has CVE-2024-45310, CVE-2025-31133, CVE-2025-52565, CVE-2025-52881 open \(project environments are refused\)$/, /upgrade runc, or accept them by id in config\.yaml engine\.accept_runc_advisories/);
    w.runcVersion = "1.1.5";
    await onlyFails(w, "runc", /CVE-2024-21626.* open \(every session is refused\)$/, /upgrade runc/);
    w.runcVersion = "1.1.12";
    w.accepted = ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"];
    const r = await results(w);
    assert.equal(r.get("runc")?.ok, true);
    assert.match(r.get("runc")?.detail ?? "", /^runc 1\.1\.12: no open advisory refuses sessions; accepted in config: CVE-2024-45310, CVE-2025-31133, CVE-2025-52565, CVE-2025-52881$/);
    w.runcVersion = new Error("spawn runc ENOENT");
    await onlyFails(w, "runc", /cannot read runc's version: .*ENOENT/, /install runc/);
  });

  it("config: names the bad line", async () => {
    const w = await new HostWorld().init();
    w.configError = new InputError("config.yaml:3: resources.memroy", "unknown field");
    const r = await results(w);
    assert.equal(r.get("config")?.ok, false);
    assert.match(r.get("config")?.detail ?? "", /config\.yaml:3: resources\.memroy: unknown field/);
  });

  it("daemon: not running", async () => {
    const w = await new HostWorld().init();
    w.daemon.down = true;
    const r = await results(w);
    assert.equal(r.get("daemon")?.ok, false);
    assert.match(r.get("daemon")?.fix ?? "", /podspawn daemon/);
  });

  it("engine: not reachable (and the image and pool checks say why they cannot tell)", async () => {
    const w = await new HostWorld().init();
    w.engineDown = true;
    const r = await results(w);
    for (const name of ["engine", "image", "address-pool"]) assert.equal(r.get(name)?.ok, false, name);
    assert.match(r.get("engine")?.fix ?? "", /provision-host\.sh/);
  });

  it("sockets: a control socket others can open, a loosened per-user dir, a world-open Docker socket", async () => {
    for (const [path, facts, named] of [
      [layout.controlSocket, { kind: "socket", uid: 0, gid: 0, mode: 0o666 }, /control\.sock must be a root-only socket/],
      [`${layout.runDir}/u/alice`, dir(0o750, 70_001), /u\/alice must be root:<alice's group> 0710 \(is uid 0, mode 0750\)/],
      [DOCKER, { kind: "socket", uid: 0, gid: 998, mode: 0o666 }, /docker\.sock is open to every account/],
    ] as const) {
      const w = await new HostWorld().init();
      w.paths.set(path, facts);
      await onlyFails(w, "sockets", named, path === DOCKER ? /^chmod o-rw \/var\/run\/docker\.sock$/ : /^restart the daemon/);
    }
  });

  it("openssh: too old, or no version at all", async () => {
    const w = await new HostWorld().init();
    w.answers = [(f, a) => (a[0] === "-V" ? { stderr: "OpenSSH_7.4p1, OpenSSL 1.0.2k\n" } : undefined)];
    await onlyFails(w, "openssh", /OpenSSH_7\.4p1 is older than OpenSSH 8\.2/, /upgrade openssh-server/);
  });

  it("sshd-config: what sshd -t says", async () => {
    const w = await new HostWorld().init();
    w.answers = [(f, a) => (a[0] === "-t" ? { code: 255, stderr: "/etc/ssh/sshd_config line 2: Bad configuration option: Portt" } : undefined)];
    await onlyFails(w, "sshd-config", /line 2: Bad configuration option: Portt/, /fix what sshd -t names/);
  });

  it("drop-in: missing, or included only after a Match", async () => {
    const missing = await new HostWorld().init();
    missing.texts.delete("/etc/ssh/sshd_config.d/50-podspawn-doc.conf");
    await onlyFails(missing, "drop-in", /50-podspawn-doc\.conf is missing/, /server-setup/);
    const late = await new HostWorld().init();
    late.texts.set(SSHD, "Port 22\nMatch User backup\n  X11Forwarding no\nInclude /etc/ssh/sshd_config.d/*.conf\n");
    await onlyFails(late, "drop-in", /does not include .* before its first Match block/, /server-setup/);
  });

  it("install-tree: names a group-writable parent and a missing bundle", async () => {
    const w = await new HostWorld().init();
    w.problems.set(layout.command, ["/usr/local/lib is group- or world-writable (mode 0775)"]);
    w.paths.delete(`${layout.libDir}/spawn.cjs`);
    await onlyFails(w, "install-tree", /\/usr\/local\/lib is group- or world-writable \(mode 0775\); .*spawn\.cjs is missing/, /re-run podspawn install/);
  });

  it("keys-user: missing, in docker, or the registry dir opened up", async () => {
    const gone = await new HostWorld().init();
    gone.accounts.users.delete(layout.keysUser);
    await onlyFails(gone, "keys-user", /podspawn-keys does not exist/, /install/);
    const docker = await new HostWorld().init();
    const u = docker.accounts.users.get(layout.keysUser);
    assert.ok(u);
    docker.accounts.users.set(layout.keysUser, { ...u, groups: [...u.groups, "docker"] });
    await onlyFails(docker, "keys-user", /in the docker group/, /gpasswd -d podspawn-keys docker/);
    const open = await new HostWorld().init();
    open.paths.set(layout.usersDir, dir(0o755, 0));
    await onlyFails(open, "keys-user", /must be root:podspawn-keys 0750/, /install/);
  });

  it("state-dir: a loosened mode and a readable audit log", async () => {
    const w = await new HostWorld().init();
    w.paths.set(layout.stateDir, dir(0o755));
    await onlyFails(w, "state-dir", /must be root 0700 \(is uid 0, mode 0755\)/, /chmod 0700 \/var\/lib\/podspawn-doc/);
    const audit = await new HostWorld().init();
    audit.paths.set(`${layout.stateDir}/audit.log`, file(0o644));
    await onlyFails(audit, "state-dir", /audit\.log must be root 0600/, /chmod 0600/);
  });

  it("disk: less than 1 GiB free", async () => {
    const w = await new HostWorld().init();
    w.freeBytes = 512 * 1024 ** 2;
    await onlyFails(w, "disk", /\/var\/lib\/docker has 0\.5 GiB free, less than 1 GiB/, /free space/);
  });

  it("image: the configured image is absent", async () => {
    const w = await new HostWorld().init();
    w.images.clear();
    await onlyFails(w, "image", /podspawn\/default:bookworm is not in the engine/, /build-image/);
  });

  it("address-pool: Docker's pools nearly full; daemon.json pools counted; the daemon's own report preferred", async () => {
    const full = await new HostWorld().init();
    full.bridgeNetworks = 28;
    await onlyFails(full, "address-pool", /^3 user network\(s\) free, 28 in use/, /network_linger/);
    const pools = await new HostWorld().init();
    pools.bridgeNetworks = 28;
    pools.texts.set("/etc/docker/daemon.json", JSON.stringify({ "default-address-pools": [{ base: "172.20.0.0/14", size: 24 }] }));
    assert.match((await results(pools)).get("address-pool")?.detail ?? "", /^996 user network\(s\) free, 28 in use \(default-address-pools in \/etc\/docker\/daemon\.json\)$/);
    const reported = await new HostWorld().init();
    const control = reported.daemon.control;
    const deps = { ...reported.deps(), control: (async (req: { op: string }) => (req.op === "capacity" ? { ok: true, addressPool: { used: 8190, free: 2 } } : control(req as never))) as DoctorDeps["control"] };
    const r = new Map((await runChecks(DOCTOR_CHECKS, deps)).map((x) => [x.name, x]));
    assert.equal(r.get("address-pool")?.ok, false);
    assert.match(r.get("address-pool")?.detail ?? "", /^2 user network\(s\) free, 8190 in use \(the daemon's address pool\)/);
  });

  it("metadata-rule: iptables -C finds no DROP", async () => {
    const w = await new HostWorld().init();
    w.answers = [(f, a) => (f === "iptables" && a.includes("-C") ? { code: 1, stderr: "iptables: Bad rule (does a matching rule exist in that chain?)." } : undefined)];
    await onlyFails(w, "metadata-rule", /no DROP for 169\.254\.169\.254/, /iptables -I DOCKER-USER -d 169\.254\.169\.254\/32 -j DROP/);
  });
});

describe("runChecks", () => {
  it("turns a check that throws into a failed check, and one that hangs into a failure at its deadline", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const checks = [
      { name: "boom", run: async () => Promise.reject(new Error("kaput")) },
      { name: "hang", run: () => new Promise<never>(() => undefined) },
      { name: "fine", run: async () => ({ ok: true, detail: "yes" }) },
    ];
    const pending = runChecks(checks, null);
    await new Promise((r) => setImmediate(r));
    t.mock.timers.tick(CHECK_TIMEOUT_MS);
    const r = await pending;
    assert.deepEqual(r.map((x) => [x.name, x.ok]), [["boom", false], ["hang", false], ["fine", true]]);
    assert.match(r[0]?.detail ?? "", /the check itself failed: kaput/);
    assert.match(r[1]?.detail ?? "", /no answer within 20 s/);
  });
});

describe("sshdConfigsToCheck", () => {
  it("picks the configs that have our drop-in beside them, else the system one", async () => {
    const have = new Set(["/etc/ssh/sshd_config", `${layout.etcDir}/sshd/sshd_config`, `${layout.etcDir}/sshd/sshd_config.d/50-podspawn-doc.conf`]);
    assert.deepEqual(await sshdConfigsToCheck(layout, async (p) => have.has(p)), [`${layout.etcDir}/sshd/sshd_config`]);
    assert.deepEqual(await sshdConfigsToCheck(layout, async () => false), ["/etc/ssh/sshd_config"]);
  });
});
